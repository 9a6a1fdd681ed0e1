-- Which node is making each pending preview, and until when (../0007_preview_claims.sql
-- says why). The database's clock decides, not the nodes'.
ALTER TABLE images ADD COLUMN preview_claimed_until timestamptz;
