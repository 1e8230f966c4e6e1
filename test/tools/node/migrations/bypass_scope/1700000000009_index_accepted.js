// A migration that accepts one rule's risk: the bypass is set in the
// migration's transaction and reset at the migration's end, because with
// node-pg-migrate's default (all pending migrations in one transaction) a
// SET LOCAL would last for the rest of the run.
exports.up = (pgm) => {
  pgm.sql("SET LOCAL migguard.allow = 'index_not_concurrent'");
  pgm.createIndex('np_big', 'id', { name: 'np_big_id_accepted2' });
  pgm.sql("SET LOCAL migguard.allow = ''");
};
