-- Trigram indexes (the VM list's name search). A trusted extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
