DROP TABLE webhook_endpoints;
DROP TABLE api_keys;
DROP TABLE services;
DROP TABLE admin_tokens;
DROP TABLE accounts;
