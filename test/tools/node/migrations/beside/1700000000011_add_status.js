// Its ALTER TABLE needs ACCESS EXCLUSIVE while a long report reads np_big4.
exports.up = (pgm) => {
  pgm.addColumn('np_big4', { status: { type: 'text' } });
};
