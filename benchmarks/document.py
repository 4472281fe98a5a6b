"""The document the language-server figures are measured on: a realistic ~300-line Python module.

It carries the three diagnostics ruff 0.17 reports on it (an unused import, a local assigned but
never used, an undefined name), exactly as ruff gives them, so the knowledge base sees what it
sees in an editor. `TEXT` is data, not code: it is never imported or run.
"""

from __future__ import annotations

from dataclasses import dataclass

URI = "file:///work/project/orders/service.py"

TEXT = '''\
"""Order service: pricing, stock reservation and invoicing for the shop backend."""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Iterable, Iterator, Protocol

log = logging.getLogger(__name__)

VAT_RATES = {"standard": Decimal("0.20"), "reduced": Decimal("0.05"), "zero": Decimal("0")}
RESERVATION_TTL = timedelta(minutes=15)
CENTS = Decimal("0.01")


class OrderError(RuntimeError):
    """An order cannot be processed; the message says why."""


class OutOfStock(OrderError):
    def __init__(self, sku: str, wanted: int, available: int) -> None:
        super().__init__(f"{sku}: {wanted} wanted, {available} available")
        self.sku = sku
        self.wanted = wanted
        self.available = available


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    unit_price: Decimal
    vat_class: str = "standard"
    weight_grams: int = 0

    @property
    def vat_rate(self) -> Decimal:
        return VAT_RATES[self.vat_class]


@dataclass(slots=True)
class Line:
    product: Product
    quantity: int
    discount: Decimal = Decimal("0")

    @property
    def net(self) -> Decimal:
        gross = self.product.unit_price * self.quantity
        return (gross * (1 - self.discount)).quantize(CENTS, ROUND_HALF_UP)

    @property
    def vat(self) -> Decimal:
        return (self.net * self.product.vat_rate).quantize(CENTS, ROUND_HALF_UP)


@dataclass(slots=True)
class Order:
    id: str
    customer_id: str
    lines: list[Line] = field(default_factory=list)
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    status: str = "draft"
    notes: list[str] = field(default_factory=list)

    def add(self, product: Product, quantity: int, discount: Decimal = Decimal("0")) -> Line:
        if quantity <= 0:
            raise OrderError(f"quantity must be positive, got {quantity}")
        for line in self.lines:
            if line.product.sku == product.sku and line.discount == discount:
                line.quantity += quantity
                return line
        line = Line(product, quantity, discount)
        self.lines.append(line)
        return line

    @property
    def net(self) -> Decimal:
        return sum((line.net for line in self.lines), Decimal("0"))

    @property
    def vat(self) -> Decimal:
        return sum((line.vat for line in self.lines), Decimal("0"))

    @property
    def total(self) -> Decimal:
        return self.net + self.vat

    @property
    def weight_grams(self) -> int:
        return sum(line.product.weight_grams * line.quantity for line in self.lines)


class StockStore(Protocol):
    def available(self, sku: str) -> int: ...

    def reserve(self, sku: str, quantity: int, until: datetime) -> str: ...

    def release(self, reservation_id: str) -> None: ...


class PriceList(Protocol):
    def product(self, sku: str) -> Product: ...


@dataclass(slots=True)
class Reservation:
    order_id: str
    ids: list[str]
    expires: datetime

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(timezone.utc)) >= self.expires


class InMemoryStock:
    """A stock store for tests and small shops: counts per SKU, reservations in memory."""

    def __init__(self, counts: dict[str, int]) -> None:
        self._counts = dict(counts)
        self._reserved: dict[str, tuple[str, int, datetime]] = {}
        self._next = 0

    def available(self, sku: str) -> int:
        held = sum(q for s, q, until in self._reserved.values() if s == sku)
        return self._counts.get(sku, 0) - held

    def reserve(self, sku: str, quantity: int, until: datetime) -> str:
        if self.available(sku) < quantity:
            raise OutOfStock(sku, quantity, self.available(sku))
        self._next += 1
        reservation_id = f"r{self._next}"
        self._reserved[reservation_id] = (sku, quantity, until)
        return reservation_id

    def release(self, reservation_id: str) -> None:
        self._reserved.pop(reservation_id, None)

    def expire(self, now: datetime) -> int:
        stale = [rid for rid, (_, _, until) in self._reserved.items() if until <= now]
        for rid in stale:
            del self._reserved[rid]
        return len(stale)


class OrderService:
    """Turns carts into orders: prices them, reserves stock, and writes invoices."""

    def __init__(self, prices: PriceList, stock: StockStore, invoice_dir: Path) -> None:
        self.prices = prices
        self.stock = stock
        self.invoice_dir = invoice_dir
        self.orders: dict[str, Order] = {}
        self.reservations: dict[str, Reservation] = {}

    def create(self, order_id: str, customer_id: str, cart: Iterable[tuple[str, int]]) -> Order:
        if order_id in self.orders:
            raise OrderError(f"order {order_id} already exists")
        order = Order(order_id, customer_id)
        for sku, quantity in cart:
            order.add(self.prices.product(sku), quantity)
        self.orders[order_id] = order
        log.info("order %s created with %d lines", order_id, len(order.lines))
        return order

    def apply_discount(self, order_id: str, sku: str, discount: Decimal) -> Order:
        order = self._get(order_id)
        if not Decimal("0") <= discount < Decimal("1"):
            raise OrderError(f"discount must be in [0, 1), got {discount}")
        previous_total = order.total
        for line in order.lines:
            if line.product.sku == sku:
                line.discount = discount
        order.notes.append(f"discount {discount:%} on {sku}")
        return order

    def reserve(self, order_id: str) -> Reservation:
        order = self._get(order_id)
        until = datetime.now(timezone.utc) + RESERVATION_TTL
        taken: list[str] = []
        try:
            for line in order.lines:
                taken.append(self.stock.reserve(line.product.sku, line.quantity, until))
        except OutOfStock:
            for reservation_id in taken:
                self.stock.release(reservation_id)
            raise
        reservation = Reservation(order_id, taken, until)
        self.reservations[order_id] = reservation
        order.status = "reserved"
        return reservation

    def cancel(self, order_id: str) -> None:
        order = self._get(order_id)
        reservation = self.reservations.pop(order_id, None)
        if reservation is not None:
            for reservation_id in reservation.ids:
                self.stock.release(reservation_id)
        order.status = "cancelled"

    def confirm(self, order_id: str) -> Path:
        order = self._get(order_id)
        reservation = self.reservations.get(order_id)
        if reservation is None or reservation.expired():
            raise OrderError(f"order {order_id} has no valid stock reservation; reserve it again")
        order.status = "confirmed"
        return self.write_invoice(order)

    def write_invoice(self, order: Order) -> Path:
        self.invoice_dir.mkdir(parents=True, exist_ok=True)
        path = self.invoice_dir / f"{order.id}.json"
        document = {
            "order": order.id,
            "customer": order.customer_id,
            "created": order.created.isoformat(),
            "lines": [
                {
                    "sku": line.product.sku,
                    "name": line.product.name,
                    "quantity": line.quantity,
                    "unit_price": str(line.product.unit_price),
                    "discount": str(line.discount),
                    "net": str(line.net),
                    "vat": str(line.vat),
                }
                for line in order.lines
            ],
            "net": str(order.net),
            "vat": str(order.vat),
            "total": str(order.total),
        }
        path.write_text(json.dumps(document, indent=2))
        return path

    def shipping_cost(self, order_id: str) -> Decimal:
        order = self._get(order_id)
        grams = order.weight_grams
        if grams == 0:
            return Decimal("0")
        bands = [(500, "3.90"), (2000, "5.90"), (10000, "9.90")]
        for limit, price in bands:
            if grams <= limit:
                return Decimal(price)
        return Decimal("19.90") + Decimal("1.00") * ((grams - 10000) // 5000)

    def revenue_by_day(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = defaultdict(lambda: Decimal("0"))
        for order in self.orders.values():
            if order.status == "confirmed":
                totals[order.created.date().isoformat()] += order.total
        return dict(sorted(totals.items()))

    def expire_reservations(self, now: datetime | None = None) -> list[str]:
        now = now or datetime.now(timezone.utc)
        expired = [oid for oid, r in self.reservations.items() if r.expired(now)]
        for order_id in expired:
            self.cancel(order_id)
            log.warning("reservation for order %s expired", order_id)
        return expired

    def export(self, status: str | None = None) -> Iterator[dict[str, object]]:
        for order in self.orders.values():
            if status is not None and order.status != status:
                continue
            yield {"id": order.id, "status": order.status, "total": str(order.total),
                   "lines": len(order.lines), "customer": order.customer_id}

    def _get(self, order_id: str) -> Order:
        try:
            return self.orders[order_id]
        except KeyError:
            raise OrderError(f"no order {order_id}") from None


def load_orders(path: Path, prices: PriceList) -> list[Order]:
    """Read orders saved by `OrderService.export` plus their lines, as JSON lines."""
    orders = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise OrderError(f"{path}:{number}: not JSON ({exc.msg})") from None
            order = Order(record["id"], record["customer"], status=record.get("status", "draft"))
            for item in record.get("items", []):
                order.add(prices.product(item["sku"]), int(item["quantity"]))
            orders.append(order)
    log.info("loaded %d orders from %s", len(orders), reponse)
    return orders


def summarise(orders: Iterable[Order]) -> dict[str, object]:
    by_status: dict[str, int] = defaultdict(int)
    revenue = Decimal("0")
    for order in orders:
        by_status[order.status] += 1
        if order.status == "confirmed":
            revenue += order.total
    return {"orders": sum(by_status.values()), "by_status": dict(by_status), "revenue": str(revenue)}
'''


LINES = len(TEXT.splitlines())


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One ruff diagnostic on TEXT: zero-based LSP positions."""

    line: int
    start: int
    end_line: int
    end: int
    message: str
    code: str
    source: str = "Ruff"


# As `ruff check --output-format json` reports them on TEXT (rows and columns made zero-based).
UNUSED_IMPORT = Diagnostic(6, 7, 6, 9, "`os` imported but unused", "F401")
UNUSED_LOCAL = Diagnostic(175, 8, 175, 22, "Local variable `previous_total` is assigned to but never used", "F841")
UNDEFINED_NAME = Diagnostic(295, 54, 295, 61, "Undefined name `reponse`", "F821")
DIAGNOSTICS = (UNUSED_IMPORT, UNUSED_LOCAL, UNDEFINED_NAME)
