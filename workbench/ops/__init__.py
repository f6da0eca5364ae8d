"""Operations: the local control endpoint of a running node (see :mod:`workbench.ops.control`)."""
