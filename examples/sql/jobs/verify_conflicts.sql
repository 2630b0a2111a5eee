-- verify (sources insured_persons and medical_insured, checked against the registry,
-- residents, the authority of name, birth date and division code), output "conflicts".
-- IDs are matched after normalisation; an invalid ID matches nothing; the registry is reduced
-- to one row per valid normalised ID
-- (the smallest birth_date, division_code, sex, resident_id, name). Values are compared as IS DISTINCT FROM (two NULLs agree).
WITH registry AS (
    SELECT resident_id, normalised_id, name, sex, birth_date, division_code
    FROM (
        SELECT *, ROW_NUMBER() OVER (
            PARTITION BY normalised_id
            ORDER BY birth_date, division_code, sex, resident_id, name) AS pick
        FROM (SELECT *, normalise_resident_id(resident_id) AS normalised_id FROM residents) AS r
        WHERE valid_resident_id(normalised_id)
    ) AS ranked
    WHERE pick = 1
), records AS (
    SELECT 'insured_persons' AS source, resident_id, name, birth_date, division_code
    FROM insured_persons
    UNION ALL
    SELECT 'medical_insured', resident_id, name, birth_date, division_code
    FROM medical_insured
), joined AS (
    SELECT s.source, s.resident_id, s.normalised_id, s.name, s.birth_date, s.division_code,
           r.normalised_id IS NOT NULL AS found, valid_resident_id(s.normalised_id) AS valid,
           r.name AS registry_name, r.birth_date AS registry_birth_date,
           r.division_code AS registry_division_code
    FROM (SELECT *, normalise_resident_id(resident_id) AS normalised_id FROM records) AS s
    LEFT JOIN registry AS r ON r.normalised_id = s.normalised_id
), checked AS (
    SELECT source, resident_id, normalised_id, name, registry_name,
           province_of(division_code) AS province_code,
           NOT valid AS is_invalid_id,
           valid AND NOT found AS is_orphan,
           COALESCE(found AND (name <> registry_name
                               OR (name IS NULL) <> (registry_name IS NULL)), FALSE)
               AS is_name_mismatch,
           COALESCE(found AND (birth_date <> registry_birth_date
                               OR (birth_date IS NULL) <> (registry_birth_date IS NULL)), FALSE)
               AS is_birth_mismatch,
           COALESCE(found AND (division_code <> registry_division_code
                               OR (division_code IS NULL) <> (registry_division_code IS NULL)),
                    FALSE) AS is_division_code_mismatch
    FROM joined
)
SELECT source, resident_id, normalised_id, 'invalid_id' AS kind, CAST(NULL AS DOUBLE) AS similarity
FROM checked WHERE is_invalid_id
UNION ALL
SELECT source, resident_id, normalised_id, 'orphan' AS kind, CAST(NULL AS DOUBLE) AS similarity
FROM checked WHERE is_orphan
UNION ALL
SELECT source, resident_id, normalised_id, 'name_mismatch' AS kind, jaro_winkler(name, registry_name) AS similarity
FROM checked WHERE is_name_mismatch
UNION ALL
SELECT source, resident_id, normalised_id, 'birth_mismatch' AS kind, CAST(NULL AS DOUBLE) AS similarity
FROM checked WHERE is_birth_mismatch
UNION ALL
SELECT source, resident_id, normalised_id, 'division_code_mismatch' AS kind, CAST(NULL AS DOUBLE) AS similarity
FROM checked WHERE is_division_code_mismatch
