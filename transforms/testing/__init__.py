"""Test support shared by the tests and the benchmarks (as `apache_beam.testing` is Beam's):
loopback web sites that serve scripted feeds and pages and record the requests (`sites`), and a
generator of news-like articles (`corpus`). Nothing in the stages imports it."""
