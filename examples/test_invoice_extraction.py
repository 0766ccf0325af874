"""Structured extraction: invoice fields from email text into JSON, JSON mode vs a JSON schema.

One prompt file, two response formats -- ``json_object``, and a ``json_schema`` built from the
pydantic model the bookkeeping code parses answers into -- and a dataset of invoices with the
fields expected from each. The checks: answers parse as that model, their fields match the
dataset, their line items add up to the total, and the schema config does no worse than JSON mode.
"""

from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from pytest_chatexp import Sample, load_model_configs
from pytest_chatexp import checks as c


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    quantity: int
    unit_price: float


# What the bookkeeping code parses each answer into: the contract the checks enforce. (No
# docstring: its schema goes to the model, and a docstring would become its description.)
class Invoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invoice_number: str
    vendor: str
    issue_date: date
    currency: str
    line_items: list[LineItem]
    total: float


(JSON_MODE,) = load_model_configs(Path(__file__).parent / "prompts" / "invoice_extraction.yaml")
# The same prompt with structured outputs: the answer must follow Invoice's JSON schema.
JSON_SCHEMA = JSON_MODE.variant(
    name="invoice-json-schema",
    response_format={
        "type": "json_schema",
        "json_schema": {"name": "invoice", "strict": True, "schema": Invoice.model_json_schema()},
    },
)


def _invoice(sample: Sample) -> Invoice | str:
    try:
        return Invoice.model_validate_json(sample.output)
    except ValidationError as error:
        return f"not an Invoice ({error.error_count()} errors)"


def fields_as_expected(sample: Sample) -> str | None:
    """The fields a bookkeeper would check, against the dataset row's expected values."""
    invoice = _invoice(sample)
    if isinstance(invoice, str):
        return invoice
    expected = sample.input.metadata["expected"]
    got = invoice.model_dump(mode="json")
    wrong = [f"{k} is {got[k]!r}, expected {v!r}" for k, v in expected.items() if got[k] != v]
    return "; ".join(wrong) or None


def line_items_add_up(sample: Sample) -> str | None:
    """A missed line or a misread quantity shows up as a sum that is not the total."""
    invoice = _invoice(sample)
    if isinstance(invoice, str):
        return invoice
    items = sum(item.quantity * item.unit_price for item in invoice.line_items)
    if abs(items - invoice.total) > 0.005:
        return f"line items sum to {items:.2f}, the total is {invoice.total:.2f}"
    return None


EXTRACTION = [
    c.json_model(Invoice),
    c.satisfies(fields_as_expected, name="fields as expected"),
    c.satisfies(line_items_add_up, name="line items add up"),
]


@pytest.mark.chatexp(
    model_configs=[JSON_MODE, JSON_SCHEMA], inputs="data/invoices.yaml", num_samples=2
)
def test_invoice_extraction(chatexp, chatexp_snapshot):
    # JSON mode promises valid JSON, not its shape: that much must always hold.
    c.assert_samples(chatexp.by_config["invoice-json-mode"], c.is_json(), c.not_truncated())
    # A schema promises the shape: every answer must be a correct, consistent Invoice.
    c.assert_samples(chatexp.by_config["invoice-json-schema"], *EXTRACTION, c.not_truncated())

    c.assert_tokens(chatexp, total=400, per="sample")
    # The reason to switch: the schema config may not extract worse than JSON mode (which, in
    # the recording, writes "1,330.00" as text once), nor cost 10% more tokens.
    c.assert_not_worse(
        chatexp,
        candidate="invoice-json-schema",
        baseline="invoice-json-mode",
        checks=EXTRACTION,
        max_token_increase=0.10,
    )

    # Every extracted invoice, per config, invoice and sample, for review in the PR.
    assert chatexp == chatexp_snapshot
