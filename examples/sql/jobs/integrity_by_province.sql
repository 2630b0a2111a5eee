-- integrity (dibao max income 36000), output "by_province (the province of the normalised ID's first two digits)": each payment flagged once per reason
-- it should not have been made: invalid_id, orphan (valid but not in the registry),
-- after_death (a month after the month of death), duplicate (not the lowest payment_id of
-- its person, program and month), dibao_high_income (income the year before over 36000),
-- dibao_enterprise_rep (dibao to the legal representative of an active enterprise).
-- IDs are matched after normalisation; an invalid ID matches nothing.
WITH registry AS (
    SELECT DISTINCT normalise_resident_id(resident_id) AS normalised_id FROM residents
    WHERE valid_resident_id(resident_id)
), death_months AS (
    SELECT normalise_resident_id(resident_id) AS normalised_id,
           MIN(month_index(death_date)) AS death_month
    FROM deaths GROUP BY normalise_resident_id(resident_id)
), income AS (
    SELECT normalise_resident_id(resident_id) AS normalised_id, year + 1 AS payment_year,
           SUM(income) AS income
    FROM tax_returns GROUP BY normalise_resident_id(resident_id), year
), reps AS (
    SELECT DISTINCT normalise_resident_id(legal_rep_id) AS normalised_id FROM enterprises
    WHERE status = 'active'
), payments AS (
    SELECT *, normalise_resident_id(resident_id) AS normalised_id,
           EXTRACT(YEAR FROM month) AS payment_year,
           MIN(payment_id) OVER (
               PARTITION BY normalise_resident_id(resident_id), program, month) AS first_payment
    FROM benefit_payments
), checked AS (
    SELECT p.payment_id, p.resident_id, p.normalised_id, p.program, p.month, p.amount,
           r.normalised_id IS NOT NULL AS registered,
           r.normalised_id IS NOT NULL OR valid_resident_id(p.normalised_id) AS valid,
           d.death_month, i.income, p.first_payment,
           e.normalised_id IS NOT NULL AS enterprise_rep
    FROM payments AS p
    LEFT JOIN registry AS r ON r.normalised_id = p.normalised_id
    LEFT JOIN death_months AS d ON d.normalised_id = p.normalised_id
    LEFT JOIN income AS i
        ON i.normalised_id = p.normalised_id AND i.payment_year = p.payment_year
    LEFT JOIN reps AS e ON e.normalised_id = p.normalised_id
), flagged AS (
    SELECT payment_id, resident_id, normalised_id, program, month, amount,
           'invalid_id' AS reason
    FROM checked WHERE COALESCE(NOT valid, FALSE)
    UNION ALL
    SELECT payment_id, resident_id, normalised_id, program, month, amount,
           'orphan' AS reason
    FROM checked WHERE COALESCE(valid AND NOT registered, FALSE)
    UNION ALL
    SELECT payment_id, resident_id, normalised_id, program, month, amount,
           'after_death' AS reason
    FROM checked WHERE COALESCE(registered AND month_index(month) > death_month, FALSE)
    UNION ALL
    SELECT payment_id, resident_id, normalised_id, program, month, amount,
           'duplicate' AS reason
    FROM checked WHERE COALESCE(registered AND payment_id > first_payment, FALSE)
    UNION ALL
    SELECT payment_id, resident_id, normalised_id, program, month, amount,
           'dibao_high_income' AS reason
    FROM checked WHERE COALESCE(registered AND program = 'dibao' AND income > 36000, FALSE)
    UNION ALL
    SELECT payment_id, resident_id, normalised_id, program, month, amount,
           'dibao_enterprise_rep' AS reason
    FROM checked WHERE COALESCE(registered AND program = 'dibao' AND enterprise_rep, FALSE)
)
SELECT id_province(normalised_id) AS province_code, reason, COUNT(*) AS payments,
       SUM(amount) AS amount
FROM flagged GROUP BY id_province(normalised_id), reason
