"""One connector per open platform family, behind the interface of connectors/base.py."""

from platforms.statuses import FAMILY
from sync.connectors.base import Connector
from sync.connectors.douyin import DouyinConnector
from sync.connectors.jd import JdConnector
from sync.connectors.taobao import TaobaoConnector

CONNECTORS: dict[str, type[Connector]] = {
    connector.family: connector for connector in (TaobaoConnector, JdConnector, DouyinConnector)}


def connector_class(platform: str) -> type[Connector]:
    """The connector of a shop's platform (Tmall and Taobao share one open platform, JD's shops another)."""
    return CONNECTORS[FAMILY[platform]]


def can_sync(platform: str) -> bool:
    return FAMILY.get(platform) in CONNECTORS
