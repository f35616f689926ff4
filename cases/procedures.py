"""Standard handling procedures (处理方法): a checklist and quick replies per problem category.

The defaults are written from the product brief in our own words; a lead's edit is
stored in the ``procedures`` table and wins over the default from then on.

Defaults are kept as their English message ids (marked with ``N_`` for extraction)
and translated only when shown, so a step ticked in Chinese is the same step in
English. A lead's own text is shown as written and never goes through the catalogue:
``text_of`` translates only the known default ids, so no typed text can be read as a
message format (a "%") or be marked safe HTML.
"""

from __future__ import annotations

from flask_babel import gettext

from cases.labels import CASE_CATEGORIES
from models import Procedure, db


def N_(message: str) -> str:
    """Marks a message for translation without translating it now."""
    return message


SORRY = N_("Sorry for the trouble with your order; we are on it and will keep you posted.")

DEFAULTS: dict[str, tuple[list, list]] = {
    "install": (
        [N_("Send the installation video or instructions"), N_("Book the installer and tell the buyer the visit time"),
         N_("If the installer does not come: chase, send another, or refund the install fee"),
         N_("Confirm with the buyer that it works")],
        [N_("Here is the installation video for your model; please follow it step by step, and tell us if anything is unclear."),
         N_("We have booked the installer; they will call you to agree the visit time.")],
    ),
    "missing_whole": (
        [N_("Check in the ERP whether the order left as several parcels"),
         N_("Send the buyer every tracking number"), N_("Follow the courier for the missing parcel"),
         N_("If it is really lost: reship and register it")],
        [N_("Your order was sent in several parcels; here are all the tracking numbers. The rest is on its way.")],
    ),
    "missing_accessory": (
        [N_("Ask for one photo with all the parts laid out"), N_("Confirm which part is missing"),
         N_("Reship the part from stock, or register it on the parts follow-up list if out of stock"),
         N_("Tell the buyer the part has shipped, with the tracking number")],
        [N_("Could you take one photo with all the parts laid out? We will check at once which one is missing."),
         N_("The missing part has shipped today; here is the tracking number.")],
    ),
    "extra_item": (
        [N_("Thank the buyer for telling us"), N_("Book a pickup; the shop pays the freight"),
         N_("Register the extra item for the warehouse")],
        [N_("Thank you for your honesty! We have booked a courier to pick it up at our cost.")],
    ),
    "wrong_whole": (
        [N_("Ask for a photo of what arrived"), N_("Buyer sends it back, freight prepaid and repaid by us"),
         N_("Reship the right item (deposit if the buyer wants it first; if urgent, reship once the return tracking number is given)"),
         N_("Make sure the return arrives and is the right item")],
        [N_("We are very sorry for sending the wrong item. Could you send a photo of what you received?"),
         N_("Please send it back with freight prepaid; we repay the freight, and the right item goes out as soon as we have your return tracking number.")],
    ),
    "wrong_accessory": (
        [N_("Ask for a photo of the wrong accessory"), N_("Reship the right accessory (a small wrong accessory needs no return)"),
         N_("Tell the buyer it has shipped")],
        [N_("Sorry for the mix-up; the right accessory ships today, and you may keep the other one.")],
    ),
    "damaged_on_arrival": (
        [N_("Apologise"), N_("Ask for photos of the damage and of the box"),
         N_("Offer compensation within your limit"), N_("Above your limit, ask the lead or manager"),
         N_("If the buyer refuses compensation, arrange an exchange"), N_("Record the courier for responsibility")],
        [N_("We are sorry it arrived damaged. Could you send photos of the damage and the outer box?"),
         N_("We would like to make it up to you with a compensation; would that be acceptable?")],
    ),
    "fault_in_use": (
        [N_("Ask for photos"), N_("Find the cause (misuse or not; affects use or not)"),
         N_("In warranty, light wear: show the right use and offer 10-20 yuan goodwill"),
         N_("Out of warranty: offer a discounted exchange")],
        [N_("Could you send a photo of the spot? Then we can tell you the best way to handle it.")],
    ),
    "size_differs": (
        [N_("Ask the buyer to measure and send a photo"), N_("Compare with the product page"),
         N_("If the page is wrong: tell operations to correct it"), N_("Offer exchange, return or compensation")],
        [N_("Could you measure it and send us a photo with the tape? We will compare it with the page right away.")],
    ),
    "function_not_expected": (
        [N_("Find out what the buyer expected"), N_("Explain the right use (subjective expectation)"),
         N_("If several buyers report it: raise a batch quality issue to QC"), N_("Offer return or exchange if it is a defect")],
        [N_("Could you tell us what it does and what you expected? We will help you get it working as it should.")],
    ),
    "service": (
        [N_("Apologise and listen"), N_("Find who handled it and what went wrong"),
         N_("Make it right with the buyer"), N_("Report to the lead for training")],
        [N_("We are sorry for how this was handled; I will take care of it personally from now on.")],
    ),
    "logistics": (
        [N_("Check the tracking"), N_("Ask the courier to answer (48 h)"),
         N_("Keep the buyer posted"), N_("If lost: reship or refund, and claim from the courier")],
        [N_("We have asked the courier to check your parcel urgently and will update you as soon as they answer.")],
    ),
    "bad_review_threat": (
        [N_("Listen and find the real problem"), N_("Offer a solution or compensation within your limit"),
         N_("Larger amounts go to the lead"), N_("Never pay for a review or ask to hide one")],
        [N_("We understand your frustration and want to solve the problem itself; here is what we can do for you.")],
    ),
    "seven_day_return": (
        [N_("Ask the reason"), N_("Try to retain the buyer: explain, soothe, small goodwill gift"),
         N_("If the buyer still returns: send the return address (no cash on delivery)"),
         N_("Warehouse confirms receipt; refund less freight insurance and any compensation already paid"),
         N_("Record whether the buyer was retained")],
        [N_("May I ask what did not suit you? Perhaps we can help before you send it back."),
         N_("Here is the return address; please do not send it cash on delivery.")],
    ),
    "payment_refund": (
        [N_("Check the refund status in the back office"), N_("Tell the buyer when and where the money arrives"),
         N_("If it is stuck: ask finance")],
        [N_("Your refund was issued; it usually reaches the original payment account within 1-3 working days.")],
    ),
    "platform_dispute": (
        [N_("Answer the platform well before its 48 h deadline"), N_("Upload the evidence (chat, photos, tracking)"),
         N_("Offer the buyer a solution in parallel"), N_("Record the platform's decision")],
        [N_("We have answered the platform and sent our evidence; we are also glad to settle this with you directly.")],
    ),
    "other": (
        [N_("Understand the request"), N_("Solve it or route it to the right department"), N_("Confirm with the buyer")],
        [SORRY],
    ),
}


def procedure_for(category: str) -> tuple[list[str], list[str], int | None]:
    """(steps, quick replies, version of the lead's edit or None for the defaults)."""
    edited = db.session.get(Procedure, category)
    if edited is not None:
        return list(edited.steps), list(edited.quick_replies), edited.version
    steps, replies = DEFAULTS.get(category, DEFAULTS["other"])
    return list(steps), list(replies), None


def all_categories() -> list[tuple[str, str]]:
    return [(key, str(label)) for key, label in CASE_CATEGORIES.items()]


DEFAULT_TEXTS = frozenset(text for steps, replies in DEFAULTS.values() for text in (*steps, *replies))


def text_of(step: str) -> str:
    """A step or quick reply as shown: a default in the reader's language, a lead's text as written."""
    return gettext(step) if step in DEFAULT_TEXTS else step
