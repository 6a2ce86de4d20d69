"""expander.train"""
