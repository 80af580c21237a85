"""An order message: products from the business's catalogue."""

from decimal import Decimal
from typing import Literal

from wab.models.inbound import InboundBase
from wab.models.types import OpenModel


class ProductItem(OpenModel):
    product_retailer_id: str
    quantity: int | Decimal
    item_price: Decimal
    currency: str


class Order(OpenModel):
    catalog_id: str
    text: str | None = None
    product_items: list[ProductItem]


class OrderMessage(InboundBase):
    type: Literal["order"]
    order: Order

    def summary_text(self) -> str | None:
        return self.order.text
