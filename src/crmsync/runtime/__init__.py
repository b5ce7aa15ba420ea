"""What every workflow runs on: the CRM connector and change-queue factories, process settings."""
