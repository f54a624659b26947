-- Sessions outlive their user and tenant: a deleted user's sessions end
-- with USER_REMOVED and stay, so a request with such a token is told why.
ALTER TABLE sessions DROP CONSTRAINT IF EXISTS sessions_user_id_fkey;

--bun:split

ALTER TABLE sessions DROP CONSTRAINT IF EXISTS sessions_tenant_id_fkey;
