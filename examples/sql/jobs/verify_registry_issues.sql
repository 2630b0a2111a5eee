-- verify, output "registry_issues": the registry's (residents') IDs held by more than one
-- row after normalisation ("duplicate") or invalid ("invalid_id"), once per ID as held, with
-- the rows carrying its normalised ID.
WITH held AS (
    SELECT resident_id, normalise_resident_id(resident_id) AS normalised_id FROM residents
), counted AS (
    SELECT normalised_id, held_rows, valid_resident_id(normalised_id) AS valid
    FROM (SELECT normalised_id, COUNT(*) AS held_rows FROM held GROUP BY normalised_id) AS c
    WHERE held_rows > 1 OR NOT valid_resident_id(normalised_id)
)
SELECT DISTINCT h.resident_id, h.normalised_id,
       CASE WHEN c.valid THEN 'duplicate' ELSE 'invalid_id' END AS issue,
       c.held_rows AS "rows"
FROM held AS h JOIN counted AS c ON c.normalised_id = h.normalised_id
