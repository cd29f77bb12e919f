-- Cairn catalog on PostgreSQL, version 2: what import remembers about files, per store.
--
-- import_state says "this file's bytes are already in the store", so an unchanged file is not read
-- again. On a catalog several repositories share (machines, or directories on one machine), each
-- has a store of its own: a file another repository imported is not in this one's store. Each row
-- now names the repository it speaks for (`scope`: host name and .cairn path), and import reads
-- only its own.
ALTER TABLE import_state ADD COLUMN scope text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE import_state DROP CONSTRAINT import_state_pkey;
ALTER TABLE import_state ADD PRIMARY KEY (scope, path);
