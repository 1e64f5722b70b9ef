-- Managed by resilient_stack (cloud-init): the application's roles and database. Idempotent.
-- Patroni creates the replication and pg_rewind roles itself. Least privilege: {{owner}} owns the database and what
-- is created in it, and does not log in; the application logs in as {{login}} or {{alt}} (its credentials alternate
-- between the two at each rotation), members of {{rw}}, which may read and write rows and nothing else. The release
-- phase (the application's migrations) and the release log log in as {{migrate}}, whose sessions act as {{owner}}.
-- Their passwords are set by root's sync on the primary, from the sealed secrets (SCRAM verifiers).
\set ON_ERROR_STOP on
SET password_encryption = 'scram-sha-256';
SELECT 'CREATE ROLE {{owner}} NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{owner}}') \gexec
SELECT 'CREATE ROLE {{rw}} NOLOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{rw}}') \gexec
SELECT 'CREATE ROLE {{login}} LOGIN NOREPLICATION IN ROLE {{rw}}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{login}}') \gexec
SELECT 'CREATE ROLE {{alt}} LOGIN NOREPLICATION IN ROLE {{rw}}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{alt}}') \gexec
SELECT 'CREATE ROLE {{migrate}} LOGIN NOREPLICATION IN ROLE {{owner}}' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{migrate}}') \gexec
ALTER ROLE {{migrate}} SET role = '{{owner}}';
SELECT 'CREATE DATABASE {{app_db}} OWNER {{owner}}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{{app_db}}') \gexec
REVOKE ALL ON DATABASE {{app_db}} FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE {{app_db}} TO {{rw}};
\connect {{app_db}}
SET ROLE {{owner}};
ALTER DEFAULT PRIVILEGES FOR ROLE {{owner}} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {{rw}};
ALTER DEFAULT PRIVILEGES FOR ROLE {{owner}} GRANT USAGE, SELECT ON SEQUENCES TO {{rw}};
RESET ROLE;
