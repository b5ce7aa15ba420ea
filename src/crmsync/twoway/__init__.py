"""Two-way field-level merge (SPEC §7): the merge rule of one record, and each mapping setting's
reverse direction (Campaign → CRM)."""
