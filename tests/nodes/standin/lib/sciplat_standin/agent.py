"""TEST DOUBLE: `python3 -m sciplat_standin.agent` runs the microk8s cluster agent stand-in
(systemd unit snap.microk8s.daemon-cluster-agent.service inside a node container)."""
from .cluster import serve_agent

if __name__ == "__main__":
    serve_agent()
