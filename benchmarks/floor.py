"""The FLOOR: the ``core`` + ``j7632`` rulesets written by hand as one plain Python function.

This is what the benchmarks compare both backends against: the fastest reasonable code a careful
engineer would write for exactly these rules, with no rule engine, no generated code and no generic
machinery of ``hcpcs_rules`` (only the claim/result classes, the unit and vocabulary helpers, and
``format_value`` so that messages print values the same way). Every rule, message, source string,
severity per payer overlay and missing-value behaviour was transcribed from ``rulesets/core.toml``
and ``rulesets/j7632.toml`` and the "Missing values" section of ``docs/ruleset-format.md``.

``benchmarks/check_floor.py`` proves that :func:`check` agrees with
``Engine(backend="python").evaluate`` (the ruleset examples, the bundled examples and tens of
thousands of generated claims): the same findings with the same severities, lines and payers, the
same line results and statuses, and messages carrying the same values; a floor that disagreed
would make every ratio meaningless. The floor still formats every message and attaches every
source, so it does the engine's work, but its copies of those texts need not follow a rewording
in the rulesets: the check reads the rules' own templates and sources from the compiled program.

Two choices a hand-writer makes for speed, both covered by that proof:

- findings are emitted already in the result's order (claim-level first, then per line in rule-id
  order), so nothing is sorted;
- facts the rulesets derive (payer overlay, the line's date and place of service, dispensed mg,
  expected units, "the claim has a J7632 line") are plain local variables.

Where the floor's time goes: more than half of it is the shared helpers (NPI check digit, NDC and
ICD-10 normalisation, exact unit math, decimal formatting) and building the ``Finding``,
``LineResult`` and ``Result`` objects, which every backend pays as well. The gap between a
backend and the floor is therefore the backend's own machinery.

One deliberate difference, outside any realistic claim: the monthly-maximum limit (248 units times
the number of months) is computed with Python integers. The engine computes it in a 60-digit
exact decimal context, so a ``days_supply`` of more than ~57 digits makes the engine raise
``RuleExecutionError`` where this function still answers.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Context, Decimal, Inexact, InvalidOperation, Overflow, Rounded

from hcpcs_rules.model import Claim, Finding, LineResult, Result
from hcpcs_rules.runtime import format_value as _fmt
from hcpcs_rules.units import billing_units, format_decimal, to_milligrams
from hcpcs_rules.vocab import icd10_in, normalize_ndc, npi_is_valid, pos_is_valid

__all__ = ["RULESETS", "check"]

RULESETS = ("core@1.2.0", "j7632@1.2.0")

# Exact decimal arithmetic as the rulesets require: any rounding raises instead of guessing.
_EXACT = Context(prec=60, traps=[Inexact, Rounded, InvalidOperation, Overflow])
_mul = _EXACT.multiply
_ONE_POINT_ONE = Decimal("1.1")  # the order tolerance: billed mg may be up to 110% of the order

# ------------------------------------------------------------------------------ constants
_NDC_UNITS = frozenset({"F2", "GR", "ME", "ML", "UN"})
_HOME_POS = frozenset({"01", "04", "09", "12", "13", "14", "27", "33", "54", "55", "56"})
_NURSING_POS = frozenset({"31", "32"})
_COVERED_DRUGS = frozenset(
    {
        "J7631", "J7611", "J7613", "J7605", "J7626", "J7606", "J7644", "J7612",
        "J7614", "J7669", "J7677", "J7639", "J7682", "J2545", "J7608",
    }
)  # fmt: skip
_FEE_CODES = frozenset({"Q0513", "Q0514", "G0333"})
_EQUIPMENT_CODES = frozenset({"E0570", "A7003", "A7004", "A7005"})
_MOD22_RECORDS = frozenset({"operative_report", "clinical_notes"})
_OPD_PREFIXES = ("J41.*", "J42", "J43.*", "J44.*", "J45.*")
_TAXONOMY = re.compile(r"3336[0-9A-Z]{5}X|332B00000X")
_MCR_MA = frozenset({"medicare", "medicare_advantage"})
_COM4 = frozenset({"aetna", "bcbs", "cigna", "uhc"})
_AETNA_UHC = frozenset({"aetna", "uhc"})
# Per-overlay start dates of J7632-COM-BULK-INGREDIENTS (its scope is exactly these overlays).
_BULK_FROM = {
    "aetna": dt.date(2014, 1, 1),
    "cigna": dt.date(2016, 1, 1),
    "bcbs": dt.date(2013, 11, 1),
}
_REPLICATES_SEVERITY = {"bcbs": "deny", "aetna": "warn", "cigna": "warn", "uhc": "warn"}
_DX_SEVERITY = {"aetna": "deny", "bcbs": "deny", "cigna": "warn", "uhc": "warn"}
_D2007_07_01 = dt.date(2007, 7, 1)
_D2009_10_02 = dt.date(2009, 10, 2)
_D2011_07_01 = dt.date(2011, 7, 1)
_D2014_01_06 = dt.date(2014, 1, 6)
_D2017_01_01 = dt.date(2017, 1, 1)
_RANK = {"info": 0, "warn": 1, "deny": 2, "reject": 3}
_STATUS = ("clean", "warn", "deny", "reject")

# ------------------------------------------------------------------------- sources, verbatim
S_C_NPI_INVALID = "CMS NPI standard, 45 CFR 162.406; NPI check-digit specification (Luhn over 80840 + first 9 digits)"
S_C_ORDERING_NPI_INVALID = "CMS NPI standard, 45 CFR 162.406; NPI check-digit specification"
S_C_DOS_MISSING = "X12 837P loop 2400 DTP*472 (service date)"
S_C_POS_INVALID = "CMS Place of Service Code Set"
S_C_DX_POINTER_INVALID = "X12 837P SV107 (diagnosis code pointers); CMS-1500 item 24E"
S_C_MODIFIERS_TOO_MANY = "X12 837P SV101-3 to SV101-6 (4 modifier slots)"
S_C_GA_GZ_CONFLICT = "HCPCS modifier definitions GA / GZ (ABN on file / not on file)"
S_C_UNITS_NOT_WHOLE = "HCPCS units must be whole numbers >= 1 (X12 837P SV104)"
S_C_NDC_FORMAT = "X12 837P loop 2410 LIN03 (N4 qualifier, 11-digit NDC); NDC 5-4-2 convention"
S_C_NDC_UNIT_INVALID = "X12 837P loop 2410 CTP04 (quantity) / CTP05-1 (unit: F2, GR, ME, ML, UN)"
S_UNITS_MISMATCH = "HCPCS J7632 descriptor (cromolyn sodium, compounded, unit dose, per 10 mg); DME MAC unit-calculation guidance: total mg / mg per unit, round up to the next whole unit (Noridian levalbuterol billing guidelines: https://med.noridianmedicare.com/web/jddme/article-detail/-/view/2230703/levalbuterol-billing-guidelines)"
S_UNITS_UNVERIFIABLE = "HCPCS J7632 descriptor (per 10 mg); DME MAC unit-calculation guidance (total mg / mg per unit, round up)"
S_UNITS_OVER_MONTHLY_MAX = "Noridian JD DME, 'Nebulizer Drugs Units of Service' (retired; posted 2011-04-01): 'Cromolyn sodium J7631 per 10 mg 2480 mg/month 248' (https://med.noridianmedicare.com/web/jddme/article-detail/-/view/2230703/retired-nebulizer-drugs-units-of-service-uos-)"
S_UNITS_EXCEED_ORDER = "Order sig vs quantity billed: CGS nebulizer drug calculators, strength x times per day -> units per 30 / 90 days (CGS 'Medicare Minute' transcript: https://hyderabadliteraryfestival.com/drug-calculators-nebulizers/); FDA label dosing, cromolyn 20 mg four times daily (https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=1ea0d416-4836-42f6-81d1-0cbbf17320c5)"
S_SUPPLY_OVER_3_MONTHS = "DME MAC refill rules (PIM ch. 5 s5.2.6): never more than a 1- or 3-month quantity at a time (Noridian 2022 refill reminder: https://med.noridianmedicare.com/web/jddme/policies/dmd-articles/2022/items-provided-on-a-recurring-basis-and-request-for-refill-requirements-annual-reminder-january-2022)"
S_MCR_COMPOUNDED_NOT_COVERED = "LCD L33370 Nebulizers / Policy Article A52466: compounded inhalation solutions (J7632 among them) denied as not reasonable and necessary, DOS >= 2007-07-01 (https://www.cms.gov/medicare-coverage-database/view/lcd.aspx?LCDId=33370; https://hme-business.com/cms-revokes-coverage-of-compounded-inhalation-solutions-further-revises-nebulizer-medical-policy/)"
S_MCR_ABN_MODIFIER_MISSING = "Policy Article A52466 modifiers; GA/GZ use when a denial as not reasonable and necessary is expected (https://www.findacode.com/articles/nebulizer-therapy-billing-reminders-modifiers-dispensing-fees-and-orders-31612.html; https://www.palmettogba.com/palmetto/jja.nsf/DID/AXBMW46087)"
S_MCR_GZ_SUPPLIER_LIABLE = "CR 7228 / MLN Matters MM7228: claim lines with GZ auto-denied for DOS >= 2011-07-01 (https://www.palmettogba.com/palmetto/jjb.nsf/DID/8EELGZ4565; https://aq-iq.com/auto-denial-of-claims-submitted-with-a-gz-modifier/)"
S_MCR_KX_INVALID = "Noridian JD DME, 'KX Modifier Billing Reminder' (2012-07-06): 'if the requirements specified in the LCD are not met the KX modifier must not be used'; LCD L33370: compounded inhalation solutions are not reasonable and necessary"
S_UNIT_DOSE_MODIFIER_MISSING = "Policy Article A52466: unit-dose inhalation drug codes need KO / KP / KQ (DME MAC modifier text: http://www.medicalbillingcptmodifiers.com/2010/05/kp-first-drug-of-multiple-drug-unit.html; https://www.findacode.com/articles/nebulizer-therapy-billing-reminders-modifiers-dispensing-fees-and-orders-31612.html)"
S_MCR_DISPENSING_FEE_NOT_PAYABLE = "CGS / Noridian dispensing-fee guidance: fee only with a drug covered under the LCD, on the same claim; no separate compounding fee (https://cgsmedicare.com/jb/education/fact_sheets/nebulizer-drugs.html; https://med.noridianmedicare.com/web/jadme/article-detail/-/view/2230703/billing-reminder-nebulizers-pharmacy-dispensing-fees-for-inhalation-drugs)"
S_MCR_EQUIPMENT_NOT_COVERED = "LCD L33370 Nebulizers: if none of the drugs used with the nebulizer is covered, the compressor, nebulizer and related accessories are denied as not reasonable and necessary (http://primeeliteinc.com/pages/medicare-nebulizers-coverage; https://www.highmarkbcbswv.com/medadvpolicy/E-32-006.html)"
S_UHC_NDC_MISSING = "UnitedHealthcare National Drug Code Requirement Policy: professional claims (CMS-1500/837P) for drug HCPCS codes need NDC, NDC quantity and unit of measure, DOS >= 2017-01-01 (https://paperzz.com/doc/8425312/national-drug-codes-requirement-to-be-enforced-for; https://pdf4pro.com/view/national-drug-code-requirements-5c25df.html)"
S_COM_BULK_INGREDIENTS = "Aetna Compounded Drug Products coverage policy, issued 01/2014 (restated in the June 2015 notice) (https://pdf4pro.com/amp/view/aetna-compounded-drug-products-coverage-policy-9a2f.html; https://lawofcompoundingmedications.com/2015/05/aetna-june-2015-newsletter-reinforcing.html); Cigna compounding policy: bulk chemical ingredients not covered from 2016-01-01 (https://static.cigna.com/assets/chcp/resourceLibrary/pharmacyResources/pharmInfoAboutCompoundedDrugs.html); Anthem BCBS compound exclusion from 2013-11-01 (http://www.thepharmacyblog.com/wellpoint-excluding-some-compounded-drugs-from-coverage/)"
S_COM_REPLICATES_COMMERCIAL_PRODUCT = "AmeriHealth / Independence BCBS pharmacy compound policy (eff. 2015-01-01): a compound that replicates a commercially available product is not medically necessary unless that product is unavailable (https://provcomm.amerihealth.com/archive-ah/archive/Pages/C5AFCC242621D9E085257D9A0078DF2B.aspx)"
S_COM_COMPOUND_UNDOCUMENTED = "Aetna compounded drug products policy; Cigna compounding policy; Anthem BCBS compound exclusion; AmeriHealth / Independence BCBS compound policy (see J7632-COM-BULK-INGREDIENTS and J7632-COM-REPLICATES-COMMERCIAL-PRODUCT)"
S_COM_DX_NOT_SUPPORTED = "Aetna CPB 0065 Nebulizers (cromolyn for chronic obstructive pulmonary diseases, e.g. chronic bronchitis, emphysema, asthma: http://www.aetna.com/cpb/medical/data/1_99/0065.html); Independence BCBS medical policy 05.00.15 Nebulizers and Inhalation Solutions (https://medpolicy.ibx.com/ibc/Commercial/Pages/Policy/4f4f2c65-9768-43af-81cf-7b151317458c.aspx)"
S_POS_NOT_HOME = "DME MAC place-of-service guidance: POS = the patient's residence (https://med.noridianmedicare.com/es/web/jadme/claims-appeals/claim-submission/pos; https://mobilitymgmt.com/suppliers-reminded-of-home-definition-for-dme/)"
S_POS_NURSING_FACILITY = "DME MAC POS / consolidated billing guidance: at POS 31/32 outside a Part A stay only listed DMEPOS categories are payable, nebulizer drugs are not (https://med.noridianmedicare.com/es/web/jadme/claims-appeals/claim-submission/pos; https://med.noridianmedicare.com/web/jadme/article-detail/-/view/6547796/consolidated-billing-questions-answered)"
S_POS_SNF_PART_A = "SSA 1862(a)(18) (SNF consolidated billing, BBA 1997 s4432(b)); DME MAC consolidated billing guidance (https://med.noridianmedicare.com/web/jddme/claims-appeals/billing-situations/consolidated-billing)"
S_POS_INPATIENT = "Medicare Benefit Policy Manual ch. 15 s110; RAC approved topic 0019 DME billed while inpatient (https://www.cms.gov/Research-Statistics-Data-and-Systems/Monitoring-Programs/Medicare-FFS-Compliance-Programs/Recovery-Audit-Program/Approved-RAC-Topics-Items/0019-DME-Billed-While-Inpatient.html)"
S_POS_PRISON = "Medicare generally does not pay for items and services furnished to prisoners (NGS Medicare Part B 101 manual: https://www.ngsmedicare.com/web/ngs/medicare-part-b-101-manual?selectedArticleId=1109538)"
S_MOD22_NOT_APPLICABLE = "Medicare Claims Processing Manual (IOM 100-04) ch. 12 s40.2.A.10, as summarised by NGS: modifier 22 'may only be reported with procedure codes ... having a 0, 10 or 90 day global period'; payer modifier 22 policies limiting 22 to global 000/010/090 procedures (https://www.ngsmedicare.com/web/ngs/modifiers?selectedArticleId=379108; https://stage.uhcprovider.com/en/policies-protocols/commercial-policies/commercial-reimbursement-policies/COMM-Increased-Procedural-Services-Policy.html)"
S_MOD22_NO_STATEMENT = "IOM 100-04 ch. 12 s40.2.A.10: a concise statement of how the service differs from the usual must accompany modifier 22 (https://www.ngsmedicare.com/web/ngs/news-article-details?redirecturl=%2Fnews&selectedArticleId=13415563)"
S_MOD22_VAGUE_STATEMENT = "IOM 100-04 ch. 12 s40.2.A.10, as summarised by NGS: a concise statement and an operative report; vague statements ('took longer', 'difficult') are not accepted (https://www.ngsmedicare.com/web/ngs/news-article-details?redirecturl=%2Fnews&selectedArticleId=13415563; https://www.ciproms.com/2013/04/wps-medicare-clarifies-submission-guidelines-for-modifier-22/)"
S_MOD22_NO_RECORDS = "Aetna: clinical records requested before payment of modifier 22 lines (http://www.aetna.com/healthcare-professionals/claims-administration/submission-of-clinical-records.html); UHC Increased Procedural Services policy: medical records required (https://stage.uhcprovider.com/en/policies-protocols/commercial-policies/commercial-reimbursement-policies/COMM-Increased-Procedural-Services-Policy.html); IOM 100-04 ch. 12 (operative report)"
S_SUP_NOT_ENROLLED = "42 CFR 424.57 (Medicare DMEPOS billing privileges); payer network participation (https://www.cms.gov/Medicare/Provider-Enrollment-and-Certification/MedicareProviderSupEnroll/DMEPOSEnrollment.html)"
S_SUP_NO_PTAN = "DMEPOS supplier number (PTAN) issued by the enrollment contractor, NPE East (Novitas) / NPE West (Palmetto GBA) since 2022-11-07, formerly the NSC (https://med.noridianmedicare.com/web/jadme/topics/enrollment)"
S_SUP_NOT_ACCREDITED = "42 CFR 424.57(c)(22) (DMEPOS accreditation); ACA s3109 pharmacy accreditation exemption (https://www.cms.gov/Medicare/Provider-Enrollment-and-Certification/MedicareProviderSupEnroll/DMEPOSEnrollment.html)"
S_SUP_SURETY_BOND = "42 CFR 424.57(d); final rule CMS-6006-F, 74 FR 166 (2009-01-02), eff. 2009-03-03: $50,000 surety bond per enrolled NPI / location; Palmetto GBA NPE notice (2009-01-07): new suppliers from 2009-05-04, existing suppliers 'no later than October 2, 2009' (https://www.govinfo.gov/content/pkg/FR-2009-01-02/html/E8-30802.htm; https://med.noridianmedicare.com/web/jddme/claims-appeals/overpayments/surety-bond)"
S_SUP_NO_PHARMACY_LICENSE = "42 CFR 424.57(c)(1) (state licensure, DMEPOS supplier standard 1); FD&C Act s503A (compounding by a state-licensed pharmacy) (https://www.novitas-solutions.com/webcenter/portal/DMEPOS/pagebyid?contentId=00269308; https://www.pccarx.com/AboutUs/glossary/503Apharmacies)"
S_SUP_TAXONOMY = "NUCC Health Care Provider Taxonomy (333600000X Pharmacy, 3336C0004X Compounding Pharmacy, 332B00000X DME & Medical Supplies: https://build.fhir.org/ig/HL7/fhir-us-ndh/branches/master/ValueSet-NonIndividualSpecialtiesVS.html); CMS specialty 58 crosswalk"
S_SUP_DATA_UNKNOWN = "42 CFR 424.57(c)(1) (state licensure) and payer enrollment / billing privileges, as cited by J7632-SUP-NOT-ENROLLED and J7632-SUP-NO-PHARMACY-LICENSE (https://www.cms.gov/Medicare/Provider-Enrollment-and-Certification/MedicareProviderSupEnroll/DMEPOSEnrollment.html)"
S_SUP_MCR_DATA_UNKNOWN = "DMEPOS supplier standards 42 CFR 424.57(c)(22) (accreditation) and 424.57(d) (surety bond), and the DMEPOS supplier number (PTAN), as cited by J7632-SUP-NOT-ACCREDITED, J7632-SUP-SURETY-BOND and J7632-SUP-NO-PTAN (https://www.cms.gov/Medicare/Provider-Enrollment-and-Certification/MedicareProviderSupEnroll/DMEPOSEnrollment.html)"
S_ORDERING_PECOS_UNKNOWN = "DMEPOS ordering/referring PECOS edits, phase 2, DOS >= 2014-01-06, as cited by J7632-ORDERING-NOT-PECOS (https://med.noridianmedicare.com/web/jddme/article-detail/-/view/2230703/avoid-denials-for-provider-enrollment-chain-and-ownership-system-pecos-ordering-referring-physician-edits)"
S_ORDERING_NOT_PECOS = "DMEPOS ordering/referring PECOS edits, phase 2, DOS >= 2014-01-06 (CO-16 N264/N575) (https://med.noridianmedicare.com/web/jddme/article-detail/-/view/2230703/avoid-denials-for-provider-enrollment-chain-and-ownership-system-pecos-ordering-referring-physician-edits)"


def check(claim: Claim) -> Result:
    """Every finding of the core and j7632 rulesets for ``claim``, as the engine reports them."""
    findings: list[Finding] = []
    add = findings.append
    worst = 0  # highest severity rank over the whole claim

    # CORE-PAYER-SCOPE: the payer overlay and program every scope and severity table reads.
    payer = claim.payer
    if payer == "medicare":
        overlay = program = "medicare"
    elif claim.line_of_business == "medicare_advantage":
        overlay = program = "medicare_advantage"
    else:
        overlay, program = payer, "commercial"
    # A scope matches when it names the overlay or the program.
    mcr = overlay == "medicare" or program == "medicare"
    mcr_ma = overlay in _MCR_MA or program in _MCR_MA
    uhc = overlay == "uhc" or program == "uhc"
    com4 = overlay in _COM4 or program in _COM4
    bulk_from = _BULK_FROM.get(overlay)
    # Severities per overlay (looked up by overlay, then program, then the default).
    pos_severity = "deny" if mcr_ma else "warn"
    pos_rank = 2 if mcr_ma else 1
    records_severity = "deny" if overlay in _AETNA_UHC or program in _AETNA_UHC else "warn"

    supplier = claim.supplier
    lines = claim.lines
    codes = {line.hcpcs for line in lines}
    has_j7632 = "J7632" in codes  # J7632-DERIVE-J7632-CLAIM
    has_covered = not _COVERED_DRUGS.isdisjoint(codes)  # J7632-DERIVE-COVERED-DRUG-CLAIM
    ordering = claim.ordering_provider

    # ---------------------------------------------------------------- claim-level, by rule id
    if not npi_is_valid(supplier.npi):
        add(
            Finding(
                rule_id="CLAIM-NPI-INVALID",
                severity="reject",
                line=None,
                message=f"Billing NPI {supplier.npi} is not a valid NPI: it must be 10 digits, start with 1 or 2 and end in the Luhn check digit (prefix 80840); correct the billing provider NPI.",
                source=S_C_NPI_INVALID,
            )
        )
        worst = 3
    if ordering is not None and not npi_is_valid(ordering.npi):
        add(
            Finding(
                rule_id="CLAIM-ORDERING-NPI-INVALID",
                severity="reject",
                line=None,
                message=f"Ordering provider NPI {ordering.npi} is not a valid NPI (10 digits, starting with 1 or 2, valid check digit); correct item 17b.",
                source=S_C_ORDERING_NPI_INVALID,
            )
        )
        worst = 3
    enrollments = supplier.enrollments
    if has_j7632:
        # Reference data not given is unknown, not absent: these info findings say so, and the
        # rules needing the data skip it (claim-level, in rule-id order).
        ptan = supplier.ptan
        ptan_blank = ptan is None or not ptan.strip()
        if enrollments is None or supplier.pharmacy_license is None:
            add(
                Finding(
                    rule_id="J7632-SUP-DATA-UNKNOWN",
                    severity="info",
                    line=None,
                    message=f"Supplier NPI {supplier.npi} could not be verified (enrollments {'unknown' if enrollments is None else 'given'}, pharmacy licence {'unknown' if supplier.pharmacy_license is None else 'given'}): the claim gives no data for it (for an 837: no supplier directory entry for this NPI), so J7632-SUP-NOT-ENROLLED and J7632-SUP-NO-PHARMACY-LICENSE were not checked; add the supplier to the directory.",
                    source=S_SUP_DATA_UNKNOWN,
                )
            )
        ptan_unknown = enrollments is None and ptan_blank
        if mcr and (supplier.accreditation is None or supplier.surety_bond is None or ptan_unknown):
            add(
                Finding(
                    rule_id="J7632-SUP-MCR-DATA-UNKNOWN",
                    severity="info",
                    line=None,
                    message=f"Medicare supplier NPI {supplier.npi} could not be verified (accreditation {'unknown' if supplier.accreditation is None else 'given'}, surety bond {'unknown' if supplier.surety_bond is None else 'given'}, PTAN {'unknown' if ptan_unknown else 'given or checked'}): the claim gives no data for it (for an 837: no supplier directory entry for this NPI), so J7632-SUP-NOT-ACCREDITED, J7632-SUP-SURETY-BOND and J7632-SUP-NO-PTAN were not checked for it; add the supplier to the directory.",
                    source=S_SUP_MCR_DATA_UNKNOWN,
                    payer=payer,
                )
            )
        if mcr and enrollments is not None and ptan_blank:
            add(
                Finding(
                    rule_id="J7632-SUP-NO-PTAN",
                    severity="reject",
                    line=None,
                    message="The Medicare DMEPOS claim has no supplier PTAN (DMEPOS supplier number); add the PTAN issued by the enrollment contractor (NPE East / NPE West since 2022-11-07) and linked to the billing NPI.",
                    source=S_SUP_NO_PTAN,
                    payer=payer,
                )
            )
            worst = 3
        taxonomy = supplier.taxonomy
        if taxonomy is None or _TAXONOMY.fullmatch(taxonomy) is None:
            add(
                Finding(
                    rule_id="J7632-SUP-TAXONOMY",
                    severity="warn",
                    line=None,
                    message=f"Billing taxonomy {'(missing)' if taxonomy is None else taxonomy} is neither a pharmacy code (333600000X or 3336xxxxxX, e.g. 3336C0004X compounding pharmacy) nor 332B00000X (DME supplier); correct the billing provider taxonomy.",
                    source=S_SUP_TAXONOMY,
                )
            )
            if worst < 1:
                worst = 1

    # ---------------------------------------------------------------- per line, by rule id
    diagnoses = claim.diagnoses
    n_dx = len(diagnoses)
    claim_dos = claim.date_of_service
    claim_pos = claim.place_of_service
    patient = claim.patient
    line_results = []
    for n, line in enumerate(lines, 1):
        rank = 0
        # CORE-SERVICE: the line's date and place, else the claim's.
        dos = line.date_of_service
        if dos is None:
            dos = claim_dos
        pos = line.place_of_service
        if pos is None:
            pos = claim_pos
        # ... and the line's ordering provider: its own (2420E), else the claim's.
        provider = line.ordering_provider
        if provider is None:
            provider = ordering
        hcpcs = line.hcpcs
        units = line.units
        mods = line.modifiers
        pointers = line.diagnosis_pointers
        pos_ok = pos_is_valid(pos)

        if dos is None:
            add(
                Finding(
                    rule_id="CLAIM-DOS-MISSING",
                    severity="reject",
                    line=n,
                    message="Line has no date of service and the claim gives none; add the date of service (DTP*472).",
                    source=S_C_DOS_MISSING,
                )
            )
            rank = 3
        if not pointers or min(pointers) < 1 or max(pointers) > n_dx:
            add(
                Finding(
                    rule_id="CLAIM-DX-POINTER-INVALID",
                    severity="reject",
                    line=n,
                    message=f"Diagnosis pointers {_fmt(pointers)} do not point into the claim's {n_dx} diagnosis code(s); each line needs at least one pointer between 1 and the number of diagnoses.",
                    source=S_C_DX_POINTER_INVALID,
                )
            )
            rank = 3
        if "GA" in mods and "GZ" in mods:
            add(
                Finding(
                    rule_id="CLAIM-GA-GZ-CONFLICT",
                    severity="reject",
                    line=n,
                    message="Line carries both GA (signed ABN on file) and GZ (no ABN on file); they exclude each other, keep the one that is true.",
                    source=S_C_GA_GZ_CONFLICT,
                )
            )
            rank = 3
        own = line.ordering_provider
        if own is not None and not npi_is_valid(own.npi):
            add(
                Finding(
                    rule_id="CLAIM-LINE-ORDERING-NPI-INVALID",
                    severity="reject",
                    line=n,
                    message=f"The line's ordering provider NPI {own.npi} is not a valid NPI (10 digits, starting with 1 or 2, valid check digit); correct the line's ordering provider (837 loop 2420E, NM109).",
                    source=S_C_ORDERING_NPI_INVALID,
                )
            )
            rank = 3
        if len(mods) > 4:
            add(
                Finding(
                    rule_id="CLAIM-MODIFIERS-TOO-MANY",
                    severity="reject",
                    line=n,
                    message=f"Line carries {len(mods)} modifiers ({_fmt(mods)}); a claim line has 4 modifier slots.",
                    source=S_C_MODIFIERS_TOO_MANY,
                )
            )
            rank = 3
        ndc = line.ndc
        if ndc is not None and normalize_ndc(ndc) is None:
            add(
                Finding(
                    rule_id="CLAIM-NDC-FORMAT",
                    severity="reject",
                    line=n,
                    message=f"NDC {ndc} is not an 11-digit NDC: give 11 digits, or a hyphenated 5-4-2, 4-4-2, 5-3-2 or 5-4-1 code.",
                    source=S_C_NDC_FORMAT,
                )
            )
            rank = 3
        ndc_quantity = line.ndc_quantity
        ndc_unit = line.ndc_unit
        if (ndc_unit is not None and ndc_unit not in _NDC_UNITS) or (
            (ndc_quantity is None) != (ndc_unit is None)
        ):
            add(
                Finding(
                    rule_id="CLAIM-NDC-UNIT-INVALID",
                    severity="reject",
                    line=n,
                    message=f"NDC quantity {_fmt(ndc_quantity)} with unit {_fmt(ndc_unit)}: the unit must be one of F2, GR, ME, ML, UN, and quantity and unit go together.",
                    source=S_C_NDC_UNIT_INVALID,
                )
            )
            rank = 3
        if not pos_ok:
            add(
                Finding(
                    rule_id="CLAIM-POS-INVALID",
                    severity="reject",
                    line=n,
                    message=f"Place of service {_fmt(pos)} is missing or not a two-digit code of the CMS place-of-service code set.",
                    source=S_C_POS_INVALID,
                )
            )
            rank = 3
        if not (units >= 1 and units == units.to_integral_value()):
            add(
                Finding(
                    rule_id="CLAIM-UNITS-NOT-WHOLE",
                    severity="reject",
                    line=n,
                    message=f"Billed units {format_decimal(units)} is not a positive whole number; HCPCS units are whole numbers of at least 1.",
                    source=S_C_UNITS_NOT_WHOLE,
                )
            )
            rank = 3

        mg = expected = None
        if hcpcs == "J7632":
            # J7632-DERIVE-DISPENSED-MG and J7632-DERIVE-UNITS
            dispensed = line.dispensed
            if dispensed is not None:
                mg = to_milligrams(
                    dispensed.quantity, dispensed.unit, dispensed.concentration_mg_per_ml
                )
                if mg is not None and mg >= 0:
                    expected = billing_units(mg, 10)
            compound = line.compound
            days = line.days_supply
            note = line.note

            if (
                bulk_from is not None
                and dos is not None
                and dos >= bulk_from
                and compound is not None
                and compound.bulk_ingredients
            ):
                add(
                    Finding(
                        rule_id="J7632-COM-BULK-INGREDIENTS",
                        severity="deny",
                        line=n,
                        message=f"The payer ({payer}) does not cover compounds made from bulk ingredients for this date of service ({dos.isoformat()}); the compound on this line uses bulk ingredients: bill J7631 for the FDA-approved product, or ask the payer for an exception.",
                        source=S_COM_BULK_INGREDIENTS,
                        payer=payer,
                    )
                )
                if rank < 2:
                    rank = 2
            if com4:
                if compound is None or (
                    compound.bulk_ingredients is None
                    and compound.replicates_commercial_product is None
                ):
                    add(
                        Finding(
                            rule_id="J7632-COM-COMPOUND-UNDOCUMENTED",
                            severity="warn",
                            line=n,
                            message=f"The J7632 line does not describe the compound (bulk_ingredients, replicates_commercial_product), so the payer's ({payer}) compound exclusions cannot be checked; add the compound description (bulk ingredients: yes/no; replicates a commercial product: yes/no).",
                            source=S_COM_COMPOUND_UNDOCUMENTED,
                            payer=payer,
                        )
                    )
                    if rank < 1:
                        rank = 1
                pointed = tuple(diagnoses[p - 1] for p in pointers if 1 <= p <= n_dx)
                for code in pointed:
                    if icd10_in(code, _OPD_PREFIXES):
                        break
                else:
                    severity = _DX_SEVERITY.get(overlay) or _DX_SEVERITY.get(program) or "warn"
                    add(
                        Finding(
                            rule_id="J7632-COM-DX-NOT-SUPPORTED",
                            severity=severity,
                            line=n,
                            message=f"None of the diagnoses the line points to ({_fmt(pointed)}) is an obstructive pulmonary disease code (J41.*, J42, J43.*, J44.*, J45.*: chronic bronchitis, emphysema, COPD, asthma); point the line to the diagnosis that supports nebulized cromolyn.",
                            source=S_COM_DX_NOT_SUPPORTED,
                            payer=payer,
                        )
                    )
                    if rank < _RANK[severity]:
                        rank = _RANK[severity]
                if compound is not None and compound.replicates_commercial_product:
                    severity = (
                        _REPLICATES_SEVERITY.get(overlay)
                        or _REPLICATES_SEVERITY.get(program)
                        or "warn"
                    )
                    add(
                        Finding(
                            rule_id="J7632-COM-REPLICATES-COMMERCIAL-PRODUCT",
                            severity=severity,
                            line=n,
                            message="The compound replicates a commercially available product (FDA-approved cromolyn sodium inhalation solution 20 mg/2 mL): bill J7631 for the FDA-approved product, unless the commercial product is unavailable (document the shortage).",
                            source=S_COM_REPLICATES_COMMERCIAL_PRODUCT,
                            payer=payer,
                        )
                    )
                    if rank < _RANK[severity]:
                        rank = _RANK[severity]
            if mcr and "GA" not in mods and "GZ" not in mods:
                add(
                    Finding(
                        rule_id="J7632-MCR-ABN-MODIFIER-MISSING",
                        severity="warn",
                        line=n,
                        message=f"J7632 line is expected to deny as not reasonable and necessary but carries neither GA nor GZ (modifiers: {_fmt(mods)}); add GA with a signed ABN on file, or GZ if none.",
                        source=S_MCR_ABN_MODIFIER_MISSING,
                        payer=payer,
                    )
                )
                if rank < 1:
                    rank = 1
            if mcr_ma and dos is not None and dos >= _D2007_07_01:
                add(
                    Finding(
                        rule_id="J7632-MCR-COMPOUNDED-NOT-COVERED",
                        severity="deny",
                        line=n,
                        message=f"J7632 (compounded cromolyn inhalation solution) is denied as not reasonable and necessary for dates of service on or after 2007-07-01 (DOS {dos.isoformat()}); the line needs GA with a signed ABN on file, or GZ if none, or bill J7631 if the FDA-approved product was dispensed.",
                        source=S_MCR_COMPOUNDED_NOT_COVERED,
                        payer=payer,
                    )
                )
                if rank < 2:
                    rank = 2
            if mcr:
                if dos is not None and dos >= _D2011_07_01 and "GZ" in mods:
                    add(
                        Finding(
                            rule_id="J7632-MCR-GZ-SUPPLIER-LIABLE",
                            severity="info",
                            line=n,
                            message=f"GZ on J7632 (DOS {dos.isoformat()}): the line is denied automatically (CARC 50, group CO) and the supplier is liable; the beneficiary cannot be billed (use GA only with a signed ABN).",
                            source=S_MCR_GZ_SUPPLIER_LIABLE,
                            payer=payer,
                        )
                    )
                if "KX" in mods:
                    add(
                        Finding(
                            rule_id="J7632-MCR-KX-INVALID",
                            severity="deny",
                            line=n,
                            message="J7632 line carries KX, which attests that the coverage criteria are met; a compounded inhalation solution never meets them and the line will be denied: remove KX and use GA (signed ABN on file) or GZ.",
                            source=S_MCR_KX_INVALID,
                            payer=payer,
                        )
                    )
                    if rank < 2:
                        rank = 2
            if "22" in mods:
                attachments = line.attachments
                if _MOD22_RECORDS.isdisjoint(attachments):
                    add(
                        Finding(
                            rule_id="J7632-MOD22-NO-RECORDS",
                            severity=records_severity,
                            line=n,
                            message=f"Modifier 22 is billed without supporting records (attachments: {_fmt(attachments)}); send the operative report or clinical notes.",
                            source=S_MOD22_NO_RECORDS,
                            payer=payer,
                        )
                    )
                    if rank < _RANK[records_severity]:
                        rank = _RANK[records_severity]
                blank_note = note is None or not note.strip()
                if blank_note:
                    add(
                        Finding(
                            rule_id="J7632-MOD22-NO-STATEMENT",
                            severity="reject",
                            line=n,
                            message="Modifier 22 is billed without a statement; add a concise note (NTE, item 19) on how the service differs from the usual, or remove the modifier.",
                            source=S_MOD22_NO_STATEMENT,
                        )
                    )
                    rank = 3
                add(
                    Finding(
                        rule_id="J7632-MOD22-NOT-APPLICABLE",
                        severity="warn",
                        line=n,
                        message="Modifier 22 (increased procedural services) applies to procedures with a 000, 010 or 090 global period, not to the drug code J7632; remove it: no extra payment is made.",
                        source=S_MOD22_NOT_APPLICABLE,
                    )
                )
                if rank < 1:
                    rank = 1
                if not blank_note:
                    words = len(note.split())  # type: ignore[union-attr]
                    if words < 10:
                        add(
                            Finding(
                                rule_id="J7632-MOD22-VAGUE-STATEMENT",
                                severity="warn",
                                line=n,
                                message=f"The modifier 22 statement has {words} words (fewer than 10, this library's own threshold: '{note}'); payers ask for a concise statement of how the service differs from the usual and do not accept generic ones: make it concrete.",
                                source=S_MOD22_VAGUE_STATEMENT,
                            )
                        )
            if (
                mcr
                and dos is not None
                and dos >= _D2014_01_06
                and (provider is None or provider.pecos_enrolled is False)
            ):
                add(
                    Finding(
                        rule_id="J7632-ORDERING-NOT-PECOS",
                        severity="deny",
                        line=n,
                        message=f"{'No ordering provider is given' if provider is None else 'The ordering provider is not enrolled in PECOS'} (NPI {'none' if provider is None else provider.npi}, DOS {dos.isoformat()}); Medicare denies DMEPOS lines without a PECOS-enrolled ordering provider from 2014-01-06: add the ordering provider or get an order from an enrolled practitioner.",
                        source=S_ORDERING_NOT_PECOS,
                        payer=payer,
                    )
                )
                if rank < 2:
                    rank = 2
            if (
                mcr
                and dos is not None
                and dos >= _D2014_01_06
                and provider is not None
                and provider.pecos_enrolled is None
            ):
                add(
                    Finding(
                        rule_id="J7632-ORDERING-PECOS-UNKNOWN",
                        severity="info",
                        line=n,
                        message=f"The ordering provider's (NPI {provider.npi}) PECOS enrollment could not be verified: the claim does not say (for an 837: no directory entry for this NPI), so J7632-ORDERING-NOT-PECOS was not checked for this line; add the provider to the directory.",
                        source=S_ORDERING_PECOS_UNKNOWN,
                        payer=payer,
                    )
                )
            if mcr_ma and patient is not None and patient.inpatient_stay:
                add(
                    Finding(
                        rule_id="J7632-POS-INPATIENT",
                        severity="deny",
                        line=n,
                        message=f"The patient is in an inpatient hospital stay on {_fmt(dos)}: DMEPOS items are bundled into the inpatient payment, do not bill them (items delivered up to 2 days before discharge for training are billed with DOS = the discharge date and POS 12).",
                        source=S_POS_INPATIENT,
                        payer=payer,
                    )
                )
                if rank < 2:
                    rank = 2
            if pos_ok and pos not in _HOME_POS and pos not in _NURSING_POS:
                add(
                    Finding(
                        rule_id="J7632-POS-NOT-HOME",
                        severity=pos_severity,
                        line=n,
                        message=f"Place of service {pos} is not a residence: DMEPOS is billed with the place where the patient lives (01, 04, 09, 12, 13, 14, 27, 33, 54, 55, 56); correct the place of service.",
                        source=S_POS_NOT_HOME,
                        payer=payer,
                    )
                )
                if rank < pos_rank:
                    rank = pos_rank
            if pos in _NURSING_POS:
                add(
                    Finding(
                        rule_id="J7632-POS-NURSING-FACILITY",
                        severity=pos_severity,
                        line=n,
                        message=f"Place of service {pos} (skilled nursing or nursing facility): nebulizer drugs are not among the DMEPOS items payable at POS 31/32; the facility furnishes them, do not bill them as DMEPOS.",
                        source=S_POS_NURSING_FACILITY,
                        payer=payer,
                    )
                )
                if rank < pos_rank:
                    rank = pos_rank
            if mcr and pos == "09":
                add(
                    Finding(
                        rule_id="J7632-POS-PRISON",
                        severity="warn",
                        line=n,
                        message="Place of service 09 (prison / correctional facility): Medicare generally does not pay for items furnished to prisoners; bill only if the exception conditions are met and documented.",
                        source=S_POS_PRISON,
                        payer=payer,
                    )
                )
                if rank < 1:
                    rank = 1
            if mcr_ma and patient is not None and patient.snf_part_a_stay:
                add(
                    Finding(
                        rule_id="J7632-POS-SNF-PART-A",
                        severity="deny",
                        line=n,
                        message=f"The patient is in a Part A covered SNF stay on {_fmt(dos)}: SNF consolidated billing applies; bill the SNF, not Medicare or the patient.",
                        source=S_POS_SNF_PART_A,
                        payer=payer,
                    )
                )
                if rank < 2:
                    rank = 2
            if dos is not None:
                licence = supplier.pharmacy_license
                if licence is not None and (
                    licence.status == "none"
                    or (licence.expires is not None and licence.expires < dos)
                ):
                    add(
                        Finding(
                            rule_id="J7632-SUP-NO-PHARMACY-LICENSE",
                            severity="deny",
                            line=n,
                            message=f"{'The supplier holds no pharmacy licence' if licence.status == 'none' else 'The pharmacy licence expired before the date of service'} (state {licence.state}, expires {_fmt(licence.expires)}, DOS {dos.isoformat()}); only a licensed pharmacy may compound and dispense J7632: add or renew the licence.",  # type: ignore[union-attr]
                            source=S_SUP_NO_PHARMACY_LICENSE,
                        )
                    )
                    if rank < 2:
                        rank = 2
                if mcr:
                    accreditation = supplier.accreditation
                    if accreditation is not None and (
                        accreditation.status == "none"
                        or (
                            accreditation.status == "accredited"
                            and accreditation.expires is not None
                            and accreditation.expires < dos
                        )
                    ):
                        why = (
                            "Accreditation status is none"
                            if accreditation.status == "none"
                            else "Accreditation expired before the date of service"
                        )
                        expires = _fmt(accreditation.expires)
                        add(
                            Finding(
                                rule_id="J7632-SUP-NOT-ACCREDITED",
                                severity="deny",
                                line=n,
                                message=f"{why} (DOS {dos.isoformat()}, expires {expires}); Medicare DMEPOS suppliers must be accredited or hold the pharmacy exemption: renew the accreditation or record the exemption.",
                                source=S_SUP_NOT_ACCREDITED,
                                payer=payer,
                            )
                        )
                        if rank < 2:
                            rank = 2
                if enrollments is not None:  # unknown: J7632-SUP-DATA-UNKNOWN says so
                    for enrollment in enrollments:
                        if (
                            enrollment.payer == payer
                            and enrollment.status == "active"
                            and enrollment.effective <= dos
                            and (enrollment.end is None or dos <= enrollment.end)
                        ):
                            break
                    else:
                        add(
                            Finding(
                                rule_id="J7632-SUP-NOT-ENROLLED",
                                severity="deny",
                                line=n,
                                message=f"The supplier has no active enrollment with the payer ({payer}) valid on the date of service {dos.isoformat()}; check the enrollment status and dates (billing privileges / network participation) before billing.",
                                source=S_SUP_NOT_ENROLLED,
                            )
                        )
                        if rank < 2:
                            rank = 2
                if mcr and dos >= _D2009_10_02:
                    bond = supplier.surety_bond
                    if bond is None:
                        why = None  # unknown: J7632-SUP-MCR-DATA-UNKNOWN says so
                    elif bond.amount < 50000:
                        why = "The surety bond is under $50,000"
                    elif bond.expires is not None and bond.expires < dos:
                        why = "The surety bond expired before the date of service"
                    else:
                        why = None
                    if why is not None:
                        add(
                            Finding(
                                rule_id="J7632-SUP-SURETY-BOND",
                                severity="warn",
                                line=n,
                                message=f"{why} (amount {format_decimal(bond.amount)}, expires {_fmt(bond.expires)}, DOS {dos.isoformat()}); Medicare DMEPOS suppliers need a bond of at least $50,000 in force: file or renew the bond.",
                                source=S_SUP_SURETY_BOND,
                                payer=payer,
                            )
                        )
                        if rank < 1:
                            rank = 1
            if mcr_ma and days is not None and days > 90:
                add(
                    Finding(
                        rule_id="J7632-SUPPLY-OVER-3-MONTHS",
                        severity="warn",
                        line=n,
                        message=f"Days supply {days} is more than a 3-month (90-day) supply; Medicare allows at most a 3-month quantity at a time: bill no more than 90 days per delivery.",
                        source=S_SUPPLY_OVER_3_MONTHS,
                        payer=payer,
                    )
                )
                if rank < 1:
                    rank = 1
            if (
                uhc
                and dos is not None
                and dos >= _D2017_01_01
                and (
                    ndc is None
                    or not ndc.strip()
                    or ndc_quantity is None
                    or ndc_unit is None
                    or not ndc_unit.strip()
                )
            ):
                add(
                    Finding(
                        rule_id="J7632-UHC-NDC-MISSING",
                        severity="deny",
                        line=n,
                        message=f"UnitedHealthcare requires the NDC, NDC quantity and NDC unit on drug lines for dates of service on or after 2017-01-01; this line has NDC {_fmt(ndc)}, quantity {_fmt(ndc_quantity)}, unit {_fmt(ndc_unit)}: add the missing values (N4 qualifier, 11-digit NDC, unit of measure and quantity).",
                        source=S_UHC_NDC_MISSING,
                        payer=payer,
                    )
                )
                if rank < 2:
                    rank = 2
            if mcr_ma and "KO" not in mods and "KP" not in mods and "KQ" not in mods:
                add(
                    Finding(
                        rule_id="J7632-UNIT-DOSE-MODIFIER-MISSING",
                        severity="reject",
                        line=n,
                        message=f"J7632 is a unit-dose form code and needs KO (single drug), KP (first drug of a multiple-drug unit dose) or KQ (second or subsequent drug); modifiers billed: {_fmt(mods)}: add the right one.",
                        source=S_UNIT_DOSE_MODIFIER_MISSING,
                        payer=payer,
                    )
                )
                rank = 3
            order = line.order
            if order is not None and days is not None:
                billed_mg = _mul(units, 10)
                ordered_mg = _mul(_mul(order.dose_mg, order.times_per_day), days)
                if billed_mg > _mul(_ONE_POINT_ONE, ordered_mg):
                    add(
                        Finding(
                            rule_id="J7632-UNITS-EXCEED-ORDER",
                            severity="warn",
                            line=n,
                            message=f"Billed {format_decimal(units)} units ({format_decimal(billed_mg)} mg) is more than 10% (this library's tolerance) over the order: {format_decimal(order.dose_mg)} mg x {order.times_per_day} a day x {days} days = {format_decimal(ordered_mg)} mg; correct the units or the days supply, or document the changed order.",
                            source=S_UNITS_EXCEED_ORDER,
                        )
                    )
                    if rank < 1:
                        rank = 1
            if expected is not None and units != expected:
                add(
                    Finding(
                        rule_id="J7632-UNITS-MISMATCH",
                        severity="reject",
                        line=n,
                        message=f"Billed {format_decimal(units)} units; {format_decimal(mg)} mg dispensed supports {expected} units (10 mg per unit, rounded up on the total dispensed, not per vial); bill {expected} units.",  # type: ignore[arg-type]
                        source=S_UNITS_MISMATCH,
                    )
                )
                rank = 3
            # J7632-UNITS-OVER-MONTHLY-MAX: 248 units per started 31-day month (31 days if absent).
            supply = 31 if days is None else days
            limit = 248 * max(1, -(-supply // 31))
            if units > limit:
                add(
                    Finding(
                        rule_id="J7632-UNITS-OVER-MONTHLY-MAX",
                        severity="warn",
                        line=n,
                        message=f"Billed {format_decimal(units)} units for a {supply}-day supply exceeds the usual maximum of {limit} units (248 units = 2480 mg a 31-day month, the retired DME MAC figure for FDA-approved cromolyn J7631, not a published J7632 limit); check the quantity and keep documentation of the medical need.",
                        source=S_UNITS_OVER_MONTHLY_MAX,
                    )
                )
                if rank < 1:
                    rank = 1
            if expected is None:
                add(
                    Finding(
                        rule_id="J7632-UNITS-UNVERIFIABLE",
                        severity="warn",
                        line=n,
                        message=f"Billed units cannot be checked: {'the line gives no dispensed amount' if line.dispensed is None else 'mL were dispensed without a concentration in mg per mL'}; report the amount dispensed in mg (or mL with its concentration) so units can be checked at 10 mg per unit.",
                        source=S_UNITS_UNVERIFIABLE,
                    )
                )
                if rank < 1:
                    rank = 1
        elif mcr and has_j7632 and not has_covered:
            if hcpcs in _FEE_CODES:
                add(
                    Finding(
                        rule_id="J7632-MCR-DISPENSING-FEE-NOT-PAYABLE",
                        severity="deny",
                        line=n,
                        message=f"Dispensing fee {hcpcs} is billed with compounded J7632 and no covered FDA-approved inhalation drug on the claim; the fee is paid only with a covered drug and there is no fee for compounding: remove the fee line, or bill the FDA-approved product (J7631 for cromolyn) with it.",
                        source=S_MCR_DISPENSING_FEE_NOT_PAYABLE,
                        payer=payer,
                    )
                )
                if rank < 2:
                    rank = 2
            elif hcpcs in _EQUIPMENT_CODES:
                add(
                    Finding(
                        rule_id="J7632-MCR-EQUIPMENT-NOT-COVERED",
                        severity="warn",
                        line=n,
                        message=f"{hcpcs} (nebulizer equipment or accessory) is billed with compounded J7632 and no covered FDA-approved inhalation drug on the claim; when none of the drugs is covered the nebulizer and accessories are denied too: add GA with a signed ABN on file, or GZ if none.",
                        source=S_MCR_EQUIPMENT_NOT_COVERED,
                        payer=payer,
                    )
                )
                if rank < 1:
                    rank = 1

        line_results.append(
            LineResult(
                line=n,
                hcpcs=hcpcs,
                billed_units=units,
                dispensed_mg=mg,
                expected_units=expected,
                status=_STATUS[rank],
                date_of_service=dos,
            )
        )
        if rank > worst:
            worst = rank

    return Result(
        claim_id=claim.id,
        status=_STATUS[worst],
        findings=tuple(findings),
        lines=tuple(line_results),
        rulesets=RULESETS,
        payer=payer,
        overlay=overlay,
    )
