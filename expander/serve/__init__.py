"""expander.serve"""
