-- Managed by resilient_stack (cloud-init). Idempotent.
\set ON_ERROR_STOP on
\set repl_password `cat {{replication_password_file}}`
\set app_password `cat {{app_password_file}}`
SET password_encryption = 'scram-sha-256';
SELECT 'CREATE ROLE {{replication_user}}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{replication_user}}') \gexec
ALTER ROLE {{replication_user}} WITH LOGIN REPLICATION PASSWORD :'repl_password';
SELECT 'CREATE ROLE {{app_user}}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{app_user}}') \gexec
ALTER ROLE {{app_user}} WITH LOGIN NOREPLICATION PASSWORD :'app_password';
SELECT 'CREATE DATABASE {{app_db}} OWNER {{app_user}}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{{app_db}}') \gexec
REVOKE ALL ON DATABASE {{app_db}} FROM PUBLIC;
GRANT ALL ON DATABASE {{app_db}} TO {{app_user}};
\unset repl_password
\unset app_password
