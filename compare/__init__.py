"""See and compare: XY(Z) grids of one workflow over widget values (axes.py, grid.py, sheet.py)."""
