// A safe migration on a large table: ADD COLUMN without a default is a
// catalog change, and a new table is always exempt.
exports.up = (pgm) => {
  pgm.addColumn('np_big', { flag: { type: 'boolean' } });
  pgm.createTable('np_accounts', { id: 'id', name: { type: 'text' } });
};
