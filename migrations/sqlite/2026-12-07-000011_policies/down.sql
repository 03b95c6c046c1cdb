DROP TABLE decisions;
DROP TABLE grants;
DROP TABLE policy_settings;
DROP TABLE policy_rules;
