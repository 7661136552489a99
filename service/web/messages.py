"""Texts the pages show that are not literal in a template: enum values, facet names and
the domain's refusal messages, listed so the catalogue extractor finds them."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark only"
    return message


DYNAMIC_MESSAGES = (
    N_("officer"),
    N_("investigator"),
    N_("auditor"),
    N_("admin"),
    N_("internal_analysis"),
    N_("un_mechanisms"),
    N_("judicial_proceedings"),
    N_("public_anonymised"),
    N_("victim"),
    N_("direct_witness"),
    N_("hearsay"),
    N_("year"),
    N_("month"),
    N_("day"),
    N_("range"),
    N_("facet:category"),
    N_("facet:place"),
    N_("facet:facility"),
    N_("facet:institution"),
    N_("facet:involvement"),
    N_("facet:language"),
    N_("facet:case"),
    N_("facet:consent_scope"),
    N_("The username or password is incorrect, or the account is disabled."),
    N_(
        "The account is locked after repeated failed sign-ins. Try again later "
        "or ask an administrator to unlock it."
    ),
    N_("Too many failed sign-ins: wait before trying again."),
    N_("Not found"),
    N_("Request failed"),
    N_("export:pending"),
    N_("export:approved"),
    N_("export:rejected"),
    N_("export:built"),
    N_("export:purged"),
    N_("The form expired or did not come from this site."),
    N_("The request is not valid"),
    N_("Conflicts with the current state"),
    N_("Authentication failed"),
    N_("Too many failed sign-in attempts"),
    N_("Not permitted"),
    N_("The witness's consent does not cover this use"),
    N_("The record was crypto-shredded"),
    N_("Upload too large"),
    N_("File type not accepted"),
    N_("Stored data failed an integrity check"),
    N_("The bag cannot be imported"),
    # The kinds of problem the custody verifier finds (service.custody.verify.Problem); the
    # finding's own sentence, which names sequence numbers and hashes, stays English.
    N_("content changed"),
    N_("event missing"),
    N_("order changed"),
    N_("event inserted"),
    N_("log truncated"),
    N_("tree node changed"),
    N_("checkpoint signature invalid"),
    N_("history rewritten since a checkpoint"),
    N_("history rewritten since a published checkpoint"),
    N_("object hash does not match the stored object"),
)


ERROR_EXPLANATIONS = {
    "The request is not valid": N_(
        "Some of what was sent could not be accepted. Check the form and try again."
    ),
    "Not found": N_("The page or record does not exist, or you are not allowed to see it."),
    "Conflicts with the current state": N_(
        "This cannot be done in the record's current state. Reload the page to see it as it is now."
    ),
    "Too many failed sign-in attempts": N_("Too many failed sign-ins: wait before trying again."),
    "Not permitted": N_("Your role or your case assignments do not allow this."),
    "The witness's consent does not cover this use": N_(
        "The witness's consent does not cover this use, or it was withdrawn."
    ),
    "The record was crypto-shredded": N_(
        "This record was destroyed by crypto-shredding: only its tombstone and its custody "
        "history remain."
    ),
    "Upload too large": N_("The file is larger than this server accepts."),
    "File type not accepted": N_("Files of this type are not accepted."),
    "Stored data failed an integrity check": N_(
        "Stored data did not match its recorded hash, so nothing was shown. The failure was "
        "recorded for the auditors."
    ),
}
"""What each refusal means, in the page's language.

Pages in another language show this explanation first, then the domain's detail in the
page's language (or in English, marked as such, when it is a lower layer's reason).
"""
