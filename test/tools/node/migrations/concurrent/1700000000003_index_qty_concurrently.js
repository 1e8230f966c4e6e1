// The safe way: CREATE INDEX CONCURRENTLY cannot run in a transaction block,
// so this migration runs without one.
exports.up = (pgm) => {
  pgm.noTransaction();
  pgm.createIndex('np_big', 'qty', { name: 'np_big_qty_cc', concurrently: true });
};
