-- rollup, output "enterprises": enterprises and their registered capital per level of the
-- division hierarchy (county, prefecture, province, nation) x status.
SELECT 'county' AS level, division_code, status, COUNT(*) AS enterprises,
       SUM(registered_capital) AS registered_capital
FROM enterprises GROUP BY division_code, status
UNION ALL
SELECT 'prefecture', prefecture_of(division_code), status, COUNT(*), SUM(registered_capital)
FROM enterprises GROUP BY prefecture_of(division_code), status
UNION ALL
SELECT 'province', province_of(division_code), status, COUNT(*), SUM(registered_capital)
FROM enterprises GROUP BY province_of(division_code), status
UNION ALL
SELECT 'nation', 0, status, COUNT(*), SUM(registered_capital)
FROM enterprises GROUP BY status
