// A CommonJS consumer: Node >= 20.19 loads an ES module from require() when it has no top-level await.
const cachekit = require('cachekit');

console.log(
  JSON.stringify({ openCacheManager: typeof cachekit.openCacheManager, parseSize: cachekit.parseSize('1KiB') }),
);
