-- eligibility, output "coverage" per division code (program elderly_allowance, reference date 2025-12-01, age 80 and over,
-- income in 2024 below 30000): residents alive at the reference date, old enough and poor
-- enough. IDs are matched after normalisation; an invalid ID matches nothing; the registry is
-- reduced to one row per valid normalised ID
-- (the smallest birth_date, division_code, sex, resident_id, name). Enrolled: paid by the program in the reference month.
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
), income AS (
    SELECT normalise_resident_id(resident_id) AS normalised_id, SUM(income) AS income
    FROM tax_returns WHERE year = 2024
    GROUP BY normalise_resident_id(resident_id)
), enrolled AS (
    SELECT DISTINCT normalise_resident_id(resident_id) AS normalised_id
    FROM benefit_payments
    WHERE program = 'elderly_allowance' AND month_index(month) = month_index(DATE '2025-12-01')
), candidates AS (
    SELECT r.resident_id, r.normalised_id, r.division_code, r.birth_date,
           CAST(COALESCE(i.income, 0) AS DOUBLE) AS income,
           e.normalised_id IS NOT NULL AS enrolled
    FROM registry AS r
    LEFT JOIN income AS i ON i.normalised_id = r.normalised_id
    LEFT JOIN enrolled AS e ON e.normalised_id = r.normalised_id
    WHERE r.normalised_id NOT IN (
              SELECT normalise_resident_id(resident_id) FROM deaths
              WHERE death_date <= DATE '2025-12-01'
                AND normalise_resident_id(resident_id) IS NOT NULL)
      AND age_at(r.birth_date, DATE '2025-12-01') >= 80
      AND COALESCE(i.income, 0) < 30000
)
SELECT division_code, COUNT(*) AS eligible,
       SUM(CASE WHEN enrolled THEN 1 ELSE 0 END) AS enrolled,
       SUM(CASE WHEN enrolled THEN 1 ELSE 0 END) / COUNT(*) AS coverage
FROM candidates GROUP BY division_code
