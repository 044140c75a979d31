"""Shipped twin weights (`evrt train twin hp|lorenz96 --seed 0`); a package so wheels carry the .pt files."""
