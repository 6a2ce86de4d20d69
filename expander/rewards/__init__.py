"""expander.rewards"""
