// The next migration of the same run did not ask for a bypass.
exports.up = (pgm) => {
  pgm.createIndex('np_big', 'qty', { name: 'np_big_qty_not_accepted' });
};
