"""The database: connections, migrations, partitions, repositories, the write path and the read path.

Nothing outside this package writes SQL.
"""
