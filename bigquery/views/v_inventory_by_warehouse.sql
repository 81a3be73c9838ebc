-- InstaShop: stock status per warehouse, with the same rule as v_inventory_status
-- applied to each product-warehouse pair.
-- Grain: warehouse. Columns: warehouse, products, units, critical, low, optimal.
SELECT
  warehouse,
  COUNT(*) AS products,
  SUM(stock) AS units,
  COUNTIF(stock <= reorder_point) AS critical,
  COUNTIF(stock > reorder_point AND stock < 2 * reorder_point) AS low,
  COUNTIF(stock >= 2 * reorder_point) AS optimal
FROM `${project_id}.${dataset_id}.inventory`
GROUP BY warehouse
