from django.dispatch import Signal

order_paid = Signal()  # provides order_id, amount


def pay(order_id: int, amount: str) -> list:
    """What the billing app does when an order is paid: tell whoever listens."""
    return order_paid.send(sender=None, order_id=order_id, amount=amount)
