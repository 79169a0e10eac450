"""Payment providers behind one interface (`base.PaymentProvider`), chosen by settings."""
