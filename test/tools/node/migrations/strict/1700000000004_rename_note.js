// A warning-level rule (rename_incompatible): node-pg-migrate does not show
// server warnings, so only the strict preset of migguard.rule_levels makes
// it visible, by making it an error.
exports.up = (pgm) => {
  pgm.renameColumn('np_big', 'note', 'remark');
};
