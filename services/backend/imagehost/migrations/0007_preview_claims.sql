-- Which supervisor is making each pending preview, and until when: with many app nodes
-- on one index (PostgreSQL), every node's supervisor looks for pending previews, and
-- without a claim two of them would make the same one. A claim lapses at its time
-- (Unix seconds), so a preview claimed by a node that died is made by another.
ALTER TABLE images ADD COLUMN preview_claimed_until INTEGER;
