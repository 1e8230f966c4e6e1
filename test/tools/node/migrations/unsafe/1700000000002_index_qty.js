// Unsafe: a plain CREATE INDEX blocks writes to np_big for the whole build.
exports.up = (pgm) => {
  pgm.createIndex('np_big', 'qty');
};
