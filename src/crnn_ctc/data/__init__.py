"""Datasets: annotation files, LMDB and TFRecord stores, the conversion pipeline, readers and sampling."""
