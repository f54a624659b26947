-- Case-folded copies of each user's name and email, computed in Go
-- (Unicode case folding), so that searching "élodie" finds "Élodie" on
-- every database alike: SQLite's lower() folds ASCII only. The store fills
-- rows left NULL here when it opens (see DB.foldUserSearch) and writes
-- both on every insert and update.
ALTER TABLE users ADD COLUMN name_folded TEXT;

--bun:split

ALTER TABLE users ADD COLUMN email_folded TEXT;
