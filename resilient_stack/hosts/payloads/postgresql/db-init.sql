-- Managed by resilient_stack (cloud-init): the application's roles, database and table. Idempotent.
-- Patroni creates the replication and pg_rewind roles itself. Least privilege: {{owner}} owns the database and its
-- tables and does not log in (migrations SET ROLE to it); the application logs in as {{login}} or {{alt}} (its
-- credentials alternate between the two at each rotation), members of {{rw}}, which may read and write rows and
-- nothing else. Their passwords are set by root's sync on the primary, from the sealed secrets (SCRAM verifiers).
\set ON_ERROR_STOP on
SET password_encryption = 'scram-sha-256';
SELECT 'CREATE ROLE {{owner}} NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{owner}}') \gexec
SELECT 'CREATE ROLE {{rw}} NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{rw}}') \gexec
SELECT 'CREATE ROLE {{login}} LOGIN NOREPLICATION IN ROLE {{rw}}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{login}}') \gexec
SELECT 'CREATE ROLE {{alt}} LOGIN NOREPLICATION IN ROLE {{rw}}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{alt}}') \gexec
SELECT 'CREATE DATABASE {{app_db}} OWNER {{owner}}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{{app_db}}') \gexec
REVOKE ALL ON DATABASE {{app_db}} FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE {{app_db}} TO {{rw}};
\connect {{app_db}}
SET ROLE {{owner}};
ALTER DEFAULT PRIVILEGES FOR ROLE {{owner}} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {{rw}};
ALTER DEFAULT PRIVILEGES FOR ROLE {{owner}} GRANT USAGE, SELECT ON SEQUENCES TO {{rw}};
CREATE TABLE IF NOT EXISTS {{app_table}} (
    n bigint PRIMARY KEY,
    placement text NOT NULL,
    at timestamptz NOT NULL DEFAULT clock_timestamp()
);
RESET ROLE;
