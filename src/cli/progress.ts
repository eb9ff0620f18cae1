/** A one-line progress bar on stderr, drawn only when stderr is a terminal so pipes get clean output. */
export class ProgressLine {
  private readonly enabled = process.stderr.isTTY === true;
  private lastDraw = 0;

  constructor(private readonly label: string) {}

  update(text: string, fraction?: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDraw < 50) return;
    this.lastDraw = now;
    const bar = fraction === undefined ? '' : `[${'#'.repeat(Math.round(fraction * 20)).padEnd(20, '.')}] `;
    process.stderr.write(`\r\x1b[2K${this.label} ${bar}${text}`);
  }

  done(): void {
    if (this.enabled) process.stderr.write('\r\x1b[2K');
  }
}
