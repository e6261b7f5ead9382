DROP TABLE calls;
ALTER TABLE api_keys DROP COLUMN call_scope;
ALTER TABLE api_keys DROP COLUMN transcribe_calls;
