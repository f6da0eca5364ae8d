"""The scripted NautilusTrader node (PAPER and REAL) on the embedded IB simulator; see docs/node.md."""

from workbench.node.config import NodeConfig, NodeConfigError, export_node_config, load_node_config
from workbench.node.runner import build_node, run_node, run_node_async

__all__ = ["NodeConfig", "NodeConfigError", "build_node", "export_node_config", "load_node_config", "run_node",
           "run_node_async"]
