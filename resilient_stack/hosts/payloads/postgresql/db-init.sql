-- Managed by resilient_stack (cloud-init): the application's role, database and table. Idempotent.
-- Patroni creates the replication and pg_rewind roles itself.
\set ON_ERROR_STOP on
\set app_password `cat {{app_password_file}}`
SET password_encryption = 'scram-sha-256';
SELECT 'CREATE ROLE {{app_user}}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{app_user}}') \gexec
ALTER ROLE {{app_user}} WITH LOGIN NOREPLICATION PASSWORD :'app_password';
\unset app_password
SELECT 'CREATE DATABASE {{app_db}} OWNER {{app_user}}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{{app_db}}') \gexec
REVOKE ALL ON DATABASE {{app_db}} FROM PUBLIC;
GRANT ALL ON DATABASE {{app_db}} TO {{app_user}};
\connect {{app_db}}
SET ROLE {{app_user}};
CREATE TABLE IF NOT EXISTS {{app_table}} (
    n bigint PRIMARY KEY,
    placement text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
RESET ROLE;
