-- ROLLUP up the division hierarchy: enterprises and their registered capital per status at
-- every level (county, prefecture, province), each status's national total (NULL division
-- columns) too. Not a job's output: checked equal to DuckDB over the same files (where
-- province_of and prefecture_of are the macros d // 10000 * 10000 and d // 100 * 100).
SELECT status,
       province_of(division_code) AS province,
       prefecture_of(division_code) AS prefecture,
       division_code AS county,
       COUNT(*) AS enterprises,
       SUM(registered_capital) AS registered_capital,
       AVG(registered_capital) AS mean_capital
FROM enterprises
GROUP BY status, ROLLUP (province_of(division_code), prefecture_of(division_code), division_code)
ORDER BY status, province NULLS FIRST, prefecture NULLS FIRST, county NULLS FIRST
