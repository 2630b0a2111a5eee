-- rollup, output "population": residents alive on the reference date (2025-12-01) per level
-- of the division hierarchy (county, prefecture, province, nation) x sex x age band.
-- The registry is reduced to one row per valid normalised ID (the smallest birth_date, division_code,
-- sex, resident_id, name); a death counts when its normalised ID is that ID.
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
), alive AS (
    SELECT division_code, sex,
           CASE WHEN age < 18 THEN '0-17' WHEN age < 35 THEN '18-34'
                WHEN age < 60 THEN '35-59' WHEN age < 80 THEN '60-79'
                ELSE '80+' END AS age_band
    FROM (SELECT *, age_at(birth_date, DATE '2025-12-01') AS age FROM registry) AS aged
    WHERE birth_date <= DATE '2025-12-01'
      AND normalised_id NOT IN (
          SELECT normalise_resident_id(resident_id) FROM deaths
          WHERE death_date <= DATE '2025-12-01'
            AND normalise_resident_id(resident_id) IS NOT NULL)
)
SELECT 'county' AS level, division_code, sex, age_band, COUNT(*) AS population
FROM alive GROUP BY division_code, sex, age_band
UNION ALL
SELECT 'prefecture', prefecture_of(division_code), sex, age_band, COUNT(*)
FROM alive GROUP BY prefecture_of(division_code), sex, age_band
UNION ALL
SELECT 'province', province_of(division_code), sex, age_band, COUNT(*)
FROM alive GROUP BY province_of(division_code), sex, age_band
UNION ALL
SELECT 'nation', 0, sex, age_band, COUNT(*)
FROM alive GROUP BY sex, age_band
